"""The Prometheus integration against the real prometheus_client, on a fresh registry."""

from __future__ import annotations

import sys

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from resilient_transport import AsyncResilientClient
from resilient_transport.integrations.prometheus import (
    RETRY_DELAY_BUCKETS,
    PrometheusMetrics,
    instrument,
)
from resilient_transport.testing import FlakyTransport, RecordingSleep, ScriptedTransport

pytestmark = pytest.mark.anyio

URL = "http://service.test/items"
WHERE = {"method": "GET", "server_address": "service.test"}


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """A sample's value, 0.0 if it was never recorded."""
    return registry.get_sample_value(name, labels) or 0.0


async def test_a_scripted_run_counts_retries_give_ups_and_outcomes() -> None:
    registry = CollectorRegistry()
    # Request 1: two connect failures, then 200. Request 2: retries exhausted.
    # Request 3: a POST answered 503 is not retried (not idempotent).
    inner = FlakyTransport(
        failures=lambda request: {"/ok": 2, "/down": 9, "/post": 0}[request.url.path],
        handler=lambda request: httpx.Response(503 if request.method == "POST" else 200),
    )
    async with AsyncResilientClient(
        transport=inner, base_delay=0, max_retries=2, retry_statuses={503}
    ) as client:
        instrument(client, registry)
        await client.get("http://service.test/ok")
        with pytest.raises(httpx.ConnectError):
            await client.get("http://service.test/down")
        await client.post("http://service.test/post")
        await client.wait_for_all_requests()

    retries = "resilient_transport_retries_total"
    assert value(registry, retries, **WHERE, error_type="httpx.ConnectError") == 4
    requests = "resilient_transport_requests_total"
    assert value(registry, requests, **WHERE, outcome="success", reason="") == 1
    assert value(registry, requests, **WHERE, outcome="error", reason="exhausted") == 1
    post = {"method": "POST", "server_address": "service.test"}
    assert value(registry, requests, **post, outcome="success", reason="not_idempotent") == 1
    give_ups = "resilient_transport_give_ups_total"
    assert value(registry, give_ups, **WHERE, reason="exhausted") == 1
    assert value(registry, give_ups, **post, reason="not_idempotent") == 1
    assert value(registry, give_ups, **WHERE, reason="") == 0
    assert value(registry, "resilient_transport_retry_delay_seconds_count", **WHERE) == 4


async def test_the_retry_delay_histogram_observes_each_backoff() -> None:
    registry = CollectorRegistry()
    sleep = RecordingSleep()
    async with AsyncResilientClient(
        transport=FlakyTransport(failures=2), base_delay=0.25, jitter=0.0, sleep=sleep
    ) as client:
        instrument(client, registry)
        await client.get(URL)
        await client.wait_for_all_requests()
    name = "resilient_transport_retry_delay_seconds"
    assert value(registry, f"{name}_sum", **WHERE) == 0.75
    assert value(registry, f"{name}_bucket", **WHERE, le="0.25") == 1
    assert value(registry, f"{name}_bucket", **WHERE, le="0.5") == 2
    exposition = generate_latest(registry).decode()
    assert f'{name}_bucket{{le="60.0",method="GET",server_address="service.test"}}' in exposition
    assert len(RETRY_DELAY_BUCKETS) + 1 == exposition.count(f"{name}_bucket{{")


async def test_a_retried_status_is_labelled_with_its_code() -> None:
    registry = CollectorRegistry()
    async with AsyncResilientClient(
        transport=ScriptedTransport(503, 200), base_delay=0, retry_statuses={503}
    ) as client:
        instrument(client, registry)
        await client.get(URL)
        await client.wait_for_all_requests()
    assert value(registry, "resilient_transport_retries_total", **WHERE, error_type="503") == 1


async def test_the_server_label_can_be_dropped_and_the_namespace_changed() -> None:
    registry = CollectorRegistry()
    async with AsyncResilientClient(transport=FlakyTransport(failures=1), base_delay=0) as client:
        instrument(client, registry, namespace="myapp_http", server_label=False)
        await client.request("PURGE", URL)
        await client.wait_for_all_requests()
    assert (
        value(
            registry,
            "myapp_http_retries_total",
            method="_OTHER",
            error_type=("httpx.ConnectError"),
        )
        == 1
    )
    assert (
        value(registry, "myapp_http_requests_total", method="_OTHER", outcome="success", reason="")
        == 1
    )


def test_registering_twice_in_one_registry_fails_loudly() -> None:
    registry = CollectorRegistry()
    PrometheusMetrics(registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        PrometheusMetrics(registry)


def test_the_default_registry_is_prometheus_clients_global_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import prometheus_client

    registry = CollectorRegistry()
    monkeypatch.setattr(prometheus_client, "REGISTRY", registry)
    metrics = PrometheusMetrics()
    metrics.retries.labels("GET", "h", "x").inc()
    assert (
        value(
            registry,
            "resilient_transport_retries_total",
            method="GET",
            server_address="h",
            error_type="x",
        )
        == 1
    )


def test_without_prometheus_client_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(ImportError, match=r"pip install 'resilient-transport\[prometheus\]'"):
        PrometheusMetrics(CollectorRegistry())
