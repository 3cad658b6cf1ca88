"""Hedged requests: what is hedged and what never is, overrides, validation, who reports them."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry

from resilient_transport import (
    AsyncEvent,
    AsyncResilientClient,
    EventType,
    RequestContext,
    RetryingAsyncTransport,
    RetryingTransport,
)
from resilient_transport._cli.describe import describe_event, describe_hedge
from resilient_transport._store import ResultStore
from resilient_transport.integrations.logs import DEFAULT_LOGGER, EventLogger
from resilient_transport.integrations.opentelemetry import HEDGES, REQUESTS, OpenTelemetryMetrics
from resilient_transport.integrations.prometheus import PrometheusMetrics
from resilient_transport.testing import ScriptedTransport

from ._hedging import HANG, URL, Attempts, send, types

pytestmark = pytest.mark.anyio

H = EventType.HEDGE


async def _open_when_blocked(gate: anyio.Event) -> None:
    await anyio.wait_all_tasks_blocked()
    gate.set()


async def _slow_first(**keywords: Any) -> tuple[Attempts, list[AsyncEvent]]:
    """A request whose first attempt answers only once every task is blocked."""
    gate = anyio.Event()
    inner = Attempts({0: gate})
    async with anyio.create_task_group() as group:
        group.start_soon(_open_when_blocked, gate)
        response, events = await send(inner, **keywords)
    assert isinstance(response, httpx.Response)
    return inner, events


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"])
async def test_every_idempotent_method_is_hedged(method: str) -> None:
    response, events = await send(Attempts({0: HANG}), method=method, hedge_delay=0)
    assert isinstance(response, httpx.Response)
    assert types(events) == [H, EventType.SUCCESS]


@pytest.mark.parametrize("headers", [None, {"idempotency-key": "k-1"}])
async def test_post_is_never_hedged_even_with_an_idempotency_key(
    headers: dict[str, str] | None,
) -> None:
    inner, events = await _slow_first(
        method="POST", content=b"order", headers=headers, hedge_delay=0, max_hedges=4
    )
    assert inner.calls == 1
    assert types(events) == [EventType.SUCCESS]


async def test_a_post_with_an_idempotency_key_takes_the_retry_path() -> None:
    inner = Attempts({0: 503})
    response, events = await send(
        inner,
        method="POST",
        headers={"idempotency-key": "k-1"},
        hedge_delay=0,
        retry_statuses={503},
    )
    assert isinstance(response, httpx.Response)
    assert types(events) == [EventType.RETRY, EventType.SUCCESS]


async def test_a_streamed_body_is_never_hedged() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"part"

    inner, events = await _slow_first(method="PUT", content=body(), hedge_delay=0)
    assert inner.calls == 1
    assert types(events) == [EventType.SUCCESS]


@pytest.mark.parametrize(
    "override", [{"hedge_delay": 0, "max_hedges": 2}, RequestContext(hedge_delay=0, max_hedges=2)]
)
async def test_a_request_turns_hedging_on(override: Any) -> None:
    inner = Attempts({0: HANG, 1: HANG})
    response, events = await send(inner, extensions={"retry": override})
    assert isinstance(response, httpx.Response)
    assert response.extensions["retry"].current_attempt == 2
    assert response.extensions["retry"].hedge_delay == 0
    assert types(events) == [H, H, EventType.SUCCESS]


async def test_a_request_turns_hedging_off() -> None:
    inner, events = await _slow_first(hedge_delay=0, extensions={"retry": {"hedge_delay": None}})
    assert inner.calls == 1
    assert types(events) == [EventType.SUCCESS]


async def test_the_client_takes_the_hedging_keywords_and_its_monitor_counts_attempts() -> None:
    inner = Attempts({0: HANG, 1: HANG})
    hedges: list[AsyncEvent] = []
    async with AsyncResilientClient(transport=inner, hedge_delay=0, max_hedges=2) as client:
        client.add_event_callback(H, hedges.append)
        response = await client.get(URL, extensions={"retry": RequestContext(request_id="r")})
        assert response.status_code == 200
        await client.wait_for_all_requests()
        result = client.get_result("r")
    assert result is not None
    assert (result.attempts, result.outcome) == (3, EventType.SUCCESS)
    assert [e.attempts for e in hedges] == [2, 3]


def test_a_hedge_event_is_not_terminal_and_the_monitor_keeps_terminal_events_only() -> None:
    assert not H.is_terminal
    assert H not in ResultStore(10).event_types
    assert EventType.SUCCESS in ResultStore(10).event_types


@pytest.mark.parametrize(
    ("field", "value", "error", "message"),
    [
        ("max_hedges", 5, ValueError, "max_hedges must be <= 4, got 5"),
        ("max_hedges", -1, ValueError, "max_hedges must be >= 0, got -1"),
        ("max_hedges", 1.0, TypeError, "max_hedges must be an int, got 1.0"),
        ("hedge_delay", -0.5, ValueError, "hedge_delay must be a finite number >= 0, got -0.5"),
        ("hedge_delay", float("nan"), ValueError, "hedge_delay must be a finite number >= 0"),
        ("hedge_delay", "1", TypeError, "hedge_delay must be a number of seconds, got '1'"),
    ],
)
async def test_bad_hedging_settings_are_refused_naming_the_field(
    field: str, value: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        RequestContext(**{field: value})  # type: ignore[arg-type]
    with pytest.raises(error, match=message):
        RetryingAsyncTransport(**{field: value})  # type: ignore[arg-type]
    inner = ScriptedTransport()
    async with httpx.AsyncClient(transport=RetryingAsyncTransport(inner)) as client:
        with pytest.raises(error, match=message):
            await client.get(URL, extensions={"retry": {field: value}})
    assert inner.calls == 0


def test_the_hedging_settings_have_their_defaults_and_bounds() -> None:
    ctx = RequestContext()
    assert (ctx.hedge_delay, ctx.max_hedges) == (None, 1)
    assert RequestContext(hedge_delay=0, max_hedges=4).max_hedges == 4
    assert RequestContext(max_hedges=0).named_fields == {"max_hedges"}


def test_the_sync_transport_cannot_hedge() -> None:
    with pytest.raises(TypeError, match="hedge_delay"):
        RetryingTransport(hedge_delay=0.1)  # type: ignore[call-arg]
    inner = ScriptedTransport()
    with httpx.Client(transport=RetryingTransport(inner)) as client:
        with pytest.raises(ValueError, match="hedge_delay is for RetryingAsyncTransport"):
            client.get(URL, extensions={"retry": {"hedge_delay": 0.1}})
        assert client.get(URL, extensions={"retry": {"max_hedges": 3}}).status_code == 200
    assert inner.calls == 1


async def _hedge_events() -> list[AsyncEvent]:
    """A 503, then a hedge at once that answers: events of both kinds of HEDGE and a terminal."""
    _, timer_events = await send(Attempts({0: HANG}), hedge_delay=0)
    refused = httpx.ConnectError("refused")
    _, status_events = await send(Attempts({0: 503}), hedge_delay=60, retry_statuses={503})
    _, error_events = await send(Attempts({0: refused}), hedge_delay=60)
    return [*timer_events, *status_events, *error_events]


async def test_the_log_integration_logs_each_hedge(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, DEFAULT_LOGGER)
    logger = EventLogger()
    for event in await _hedge_events():
        logger(event)
    lines = [r.getMessage() for r in caplog.records if r.name == DEFAULT_LOGGER]
    hedges = [line for line in lines if line.startswith("hedge")]
    assert len(hedges) == 3
    assert hedges[0].startswith(f"hedge 1/1 of GET {URL} sent after 0.0")
    assert hedges[1].endswith("after status 503 [request " + hedges[1].rsplit(" ", 1)[1])
    assert f"after {httpx.__name__}.ConnectError: refused" in hedges[2]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.event == "hedge")  # type: ignore[attr-defined]


async def test_the_metrics_integrations_count_hedges_apart_from_requests() -> None:
    events = await _hedge_events()
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    otel = OpenTelemetryMetrics(provider)
    registry = CollectorRegistry()
    prometheus = PrometheusMetrics(registry)
    for event in events:
        otel(event)
        prometheus(event)
    data = reader.get_metrics_data()
    assert data is not None
    sums = {
        metric.name: sum(point.value for point in metric.data.data_points)  # type: ignore[union-attr,misc]
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    provider.shutdown()
    assert (sums[HEDGES], sums[REQUESTS]) == (3, 3)
    total = registry.get_sample_value(
        "resilient_transport_requests_total",
        {"method": "GET", "server_address": "service.test", "outcome": "success", "reason": ""},
    )
    assert total == 3
    hedges = registry.get_sample_value(
        "resilient_transport_hedges_total", {"method": "GET", "server_address": "service.test"}
    )
    assert hedges == 3


async def test_the_command_line_describes_a_hedge() -> None:
    timer, _, status, _, error, _ = await _hedge_events()
    assert describe_hedge(timer).startswith("hedge 1 of 1 sent after 0.0")
    assert describe_hedge(timer).endswith(" s without an answer")
    assert describe_event(status) == "hedge 1 of 1 sent after HTTP 503"
    assert describe_event(error) == "hedge 1 of 1 sent after ConnectError: refused"
