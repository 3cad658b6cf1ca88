"""The conveniences: AsyncResilientClient, create_async_resilient_client, simple_async_request."""

from __future__ import annotations

import inspect
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from resilient_transport import (
    AsyncEvent,
    AsyncResilientClient,
    EventType,
    RequestContext,
    RetryingAsyncTransport,
    _keywords,
    create_async_resilient_client,
    simple_async_request,
)
from resilient_transport._httpx_client import transports_of
from resilient_transport.testing import FlakyTransport, RecordingSleep

from ._server import ScriptedServer, free_port
from ._support import URL

pytestmark = pytest.mark.anyio


async def test_the_seed_scenario_three_services_with_their_own_contexts() -> None:
    failures = {"users": 2, "orders": 1, "billing": 5}
    inner = FlakyTransport(failures=lambda r: failures[r.extensions["retry"].request_id])
    retries: list[tuple[str, int]] = []
    async with create_async_resilient_client(
        transport=inner, sleep=RecordingSleep(), max_retries=3
    ) as client:
        client.add_event_callback(
            EventType.RETRY, lambda e: retries.append((e.request_id, e.context.current_attempt))
        )
        contexts = {
            "users": RequestContext(max_retries=3, request_id="users", base_delay=0.1),
            "orders": RequestContext(max_retries=1, request_id="orders", base_delay=0.2),
            "billing": RequestContext(max_retries=2, request_id="billing", base_delay=0.1),
        }
        outcomes: dict[str, object] = {}

        async def call(name: str) -> None:
            try:
                response = await client.get(
                    f"http://{name}.test/", extensions={"retry": contexts[name]}
                )
                outcomes[name] = response.status_code
            except httpx.ConnectError as exc:
                outcomes[name] = exc

        async with anyio.create_task_group() as tg:
            for name in contexts:
                tg.start_soon(call, name)
        results = await client.wait_for_all_requests()
    assert outcomes["users"] == 200
    assert outcomes["orders"] == 200
    assert isinstance(outcomes["billing"], httpx.ConnectError)
    assert {k: (r.attempts, r.outcome) for k, r in results.items()} == {
        "users": (3, EventType.SUCCESS),
        "orders": (2, EventType.SUCCESS),
        "billing": (3, EventType.ERROR),
    }
    for name, result in results.items():
        assert result.attempts == result.retries + 1
        assert result.attempts == inner.attempts[name]
        assert sum(1 for rid, _ in retries if rid == name) == result.retries
    assert client.get_result("users") is results["users"]


async def test_every_transport_of_the_client_retries_including_mounts_and_proxies() -> None:
    special = FlakyTransport(failures=1)
    client = AsyncResilientClient(
        transport=FlakyTransport(failures=0),
        mounts={"http://special.test": special, "http://nowhere.test": None},
        sleep=RecordingSleep(),
    )
    proxied = AsyncResilientClient(proxy="http://127.0.0.1:9")
    for c in (client, proxied):
        transports = transports_of(c)
        assert all(isinstance(t, RetryingAsyncTransport) or t is None for t in transports)
    assert None in transports_of(client)
    assert len(transports_of(proxied)) == 2  # the proxy's transport is a mount
    async with client:
        response = await client.get(
            "http://special.test/", extensions={"retry": {"request_id": "s"}}
        )
        await client.wait_for_all_requests()
    assert response.status_code == 200
    assert special.calls == 2
    result = client.get_result("s")
    assert result is not None and result.attempts == 2
    await proxied.aclose()  # never entered: closing it closes the monitor's stream too
    with pytest.raises(RuntimeError, match="already been started"):
        await proxied.monitor.run()


async def test_a_dead_proxy_is_retried_like_any_connect_failure() -> None:
    port = free_port()
    async with AsyncResilientClient(
        proxy=f"http://127.0.0.1:{port}", max_retries=2, base_delay=0
    ) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://service.test/", extensions={"retry": {"request_id": "p"}})
        await client.wait_for_all_requests()
    result = client.get_result("p")
    assert result is not None and (result.attempts, result.outcome) == (3, EventType.ERROR)


async def test_a_retrying_transport_passed_in_is_not_wrapped_twice() -> None:
    own = RetryingAsyncTransport(FlakyTransport(failures=0))
    async with AsyncResilientClient(transport=own) as client:
        assert transports_of(client) == [own]
        await client.get("http://service.test/")


async def test_the_client_reports_dropped_events() -> None:
    async with AsyncResilientClient(
        transport=FlakyTransport(failures=2), sleep=RecordingSleep(), max_buffer_size=0
    ) as client:
        # No buffer: an event fits only when the monitor is already waiting for it.
        await client.get("http://service.test/")
        await client.wait_for_all_requests()
        assert client.dropped_events + client.monitor.events_processed == 3


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_retries": -1}, ValueError, "max_retries"),
        ({"base_delay": "x"}, TypeError, "base_delay"),
        ({"max_buffer_size": -1}, ValueError, "max_buffer_size must be >= 0, got -1"),
        ({"max_buffer_size": 1.5}, TypeError, "max_buffer_size must be an int, got 1.5"),
        ({"max_results": -2}, ValueError, "max_results must be >= 0, got -2"),
        ({"follow_redirects": True, "nonsense": 1}, TypeError, "nonsense"),
    ],
)
def test_bad_client_keywords_raise_naming_them(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        AsyncResilientClient(**kwargs)


async def test_httpx_client_keywords_still_work() -> None:
    async with AsyncResilientClient(
        transport=FlakyTransport(failures=0),
        base_url="http://service.test/api/",
        headers={"x-client": "rt"},
        timeout=3.0,
    ) as client:
        response = await client.get("items")
    assert str(response.request.url) == "http://service.test/api/items"
    assert response.request.headers["x-client"] == "rt"


async def test_exceptions_in_the_client_block_propagate_unwrapped() -> None:
    with pytest.raises(httpx.ConnectError):
        async with AsyncResilientClient(
            transport=FlakyTransport(failures=9), base_delay=0, max_retries=1
        ) as client:
            await client.get("http://service.test/")


async def test_callbacks_of_any_type_see_every_event() -> None:
    seen: list[AsyncEvent] = []
    async with AsyncResilientClient(
        transport=FlakyTransport(failures=1), sleep=RecordingSleep()
    ) as client:
        client.add_event_callback(None, seen.append)
        await client.get("http://service.test/")
        await client.wait_for_all_requests()
    assert [e.event_type for e in seen] == [EventType.RETRY, EventType.SUCCESS]


# -- simple_async_request against real local servers ------------------------------------


async def test_simple_request_returns_a_response_with_its_body_read(
    local_server: ScriptedServer,
) -> None:
    url = local_server.url
    response = await simple_async_request("POST", f"{url}/echo", json={"a": 1})
    assert response.status_code == 200
    assert response.is_closed
    assert response.text == "POST /echo"
    assert local_server.served == ["POST /echo"]


async def test_simple_request_retries_a_closed_port_then_raises() -> None:
    port = free_port()
    sleep = RecordingSleep()
    with pytest.raises(httpx.ConnectError):
        await simple_async_request("GET", f"http://127.0.0.1:{port}/", sleep=sleep)
    assert len(sleep.delays) == 2  # max_retries=2 by default: three attempts


async def test_simple_request_passes_request_and_client_keywords(
    local_server: ScriptedServer,
) -> None:
    url = local_server.url
    response = await simple_async_request(
        "GET", f"{url}/q", params={"x": "1"}, max_retries=0, timeout=5.0, trust_env=False
    )
    assert local_server.served == ["GET /q?x=1"]
    assert response.extensions["retry"].max_retries == 0


async def test_simple_request_rejects_bad_retry_keywords_before_any_attempt() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        await simple_async_request("GET", "http://service.test/", max_retries=-1)


async def test_a_client_that_cannot_start_its_monitor_closes_its_transports() -> None:
    inner = FlakyTransport(failures=0)
    client = AsyncResilientClient(transport=inner)
    # A monitor already started elsewhere cannot be started by the client.
    client.monitor._claim()
    with pytest.raises(RuntimeError, match="already been started"):
        await client.__aenter__()
    assert inner.closed
    client.monitor._receive.close()


async def test_aclose_after_the_block_is_harmless() -> None:
    async with AsyncResilientClient(transport=FlakyTransport(failures=0)) as client:
        await client.get("http://service.test/")
    await client.aclose()
    assert not client.monitor.running
    assert client.is_closed


# -- a client used the plain httpx way, without `async with` ------------------------------


async def test_a_client_not_entered_runs_callbacks_as_each_request_ends() -> None:
    seen: list[tuple[str, EventType]] = []

    async def on_any(e: AsyncEvent) -> None:
        await anyio.lowlevel.checkpoint()
        seen.append(("async", e.event_type))

    client = AsyncResilientClient(transport=FlakyTransport(failures=1), sleep=RecordingSleep())
    client.add_event_callback(EventType.RETRY, lambda e: seen.append(("sync", e.event_type)))
    client.add_event_callback(None, on_any)
    try:
        response = await client.get(URL, extensions={"retry": {"request_id": "a"}})
        # Processed before the request returned: no monitor task was needed.
        assert seen == [
            ("sync", EventType.RETRY),
            ("async", EventType.RETRY),
            ("async", EventType.SUCCESS),
        ]
        result = client.get_result("a")
        assert result is not None and (result.attempts, result.outcome) == (2, EventType.SUCCESS)
        results = await client.wait_for_all_requests()
        assert results == {"a": result}
    finally:
        await client.aclose()
    assert response.status_code == 200
    assert client.is_closed
    assert not client.monitor.running
    assert await client.wait_for_all_requests() == {"a": result}  # closed: at once


async def test_a_request_cancelled_in_a_callback_closes_its_response(
    local_server: ScriptedServer,
) -> None:
    responses: list[httpx.Response] = []
    entered = anyio.Event()

    async def keep(response: httpx.Response) -> None:
        responses.append(response)

    async def blocks(e: AsyncEvent) -> None:
        entered.set()
        await anyio.sleep_forever()

    url = local_server.url
    client = AsyncResilientClient(event_hooks={"response": [keep]})
    client.add_event_callback(EventType.SUCCESS, blocks)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: client.send(client.build_request("GET", url), stream=True))
        await entered.wait()
        tg.cancel_scope.cancel()
    assert len(responses) == 1
    assert responses[0].is_closed  # the caller never got it: nobody else would close it
    await client.aclose()
    assert client.get_result(responses[0].extensions["retry"].request_id) is not None


async def test_a_client_not_entered_keeps_the_result_of_a_failed_request() -> None:
    client = AsyncResilientClient(
        transport=FlakyTransport(failures=9), base_delay=0, max_retries=1
    )
    with pytest.raises(httpx.ConnectError):
        await client.get(URL, extensions={"retry": {"request_id": "f"}})
    result = client.get_result("f")
    assert result is not None and (result.attempts, result.outcome) == (2, EventType.ERROR)
    await client.aclose()


async def test_waiting_on_a_client_never_entered_nor_used_returns_no_results() -> None:
    client = AsyncResilientClient(transport=FlakyTransport(failures=0))
    assert await client.wait_for_all_requests() == {}
    await client.aclose()


async def test_concurrent_requests_on_a_client_not_entered_run_callbacks_one_at_a_time() -> None:
    running = [0, 0]  # now, most at once
    order: list[tuple[str, EventType]] = []

    async def slow(e: AsyncEvent) -> None:
        running[0] += 1
        running[1] = max(running)
        for _ in range(3):
            await anyio.lowlevel.checkpoint()
        order.append((e.request_id, e.event_type))
        running[0] -= 1

    client = AsyncResilientClient(transport=FlakyTransport(failures=1), sleep=RecordingSleep())
    client.add_event_callback(None, slow)

    async def get(request_id: str) -> None:
        await client.get(URL, extensions={"retry": {"request_id": request_id}})

    async with anyio.create_task_group() as tg:
        for i in range(10):
            tg.start_soon(get, f"r{i}")
    results = await client.wait_for_all_requests()
    await client.aclose()
    assert {k: r.attempts for k, r in results.items()} == {f"r{i}": 2 for i in range(10)}
    assert running[1] == 1
    assert len(order) == 20
    for i in range(10):
        assert [t for rid, t in order if rid == f"r{i}"] == [EventType.RETRY, EventType.SUCCESS]


async def test_closing_a_client_not_entered_processes_the_events_left() -> None:
    # A request cancelled in its backoff ends with no chance to process its
    # events; closing the client does it.
    seen: list[EventType] = []
    sleep = RecordingSleep(block=True)
    client = AsyncResilientClient(transport=FlakyTransport(failures=1), sleep=sleep)
    client.add_event_callback(None, lambda e: seen.append(e.event_type))
    async with anyio.create_task_group() as tg:
        tg.start_soon(client.get, URL)
        for _ in range(100):
            if sleep.sleeping:
                break
            await anyio.lowlevel.checkpoint()
        tg.cancel_scope.cancel()
    await client.aclose()
    assert seen == [EventType.RETRY, EventType.CANCELLED]
    assert len(client.monitor.results) == 1


async def test_a_client_not_entered_against_a_real_server_closes_everything(
    local_server: ScriptedServer,
) -> None:
    seen: list[EventType] = []
    url = local_server.url
    client = AsyncResilientClient(max_retries=1)
    client.add_event_callback(None, lambda e: seen.append(e.event_type))
    response = await client.get(f"{url}/a", extensions={"retry": {"request_id": "a"}})
    async with client.stream(
        "GET", f"{url}/b", extensions={"retry": {"request_id": "b"}}
    ) as streamed:
        body = await streamed.aread()
    results = await client.wait_for_all_requests()
    await client.aclose()
    assert (response.text, body) == ("GET /a", b"GET /b")
    assert local_server.served == ["GET /a", "GET /b"]
    assert seen == [EventType.SUCCESS, EventType.SUCCESS]
    assert {k: r.status_code for k, r in results.items()} == {"a": 200, "b": 200}
    assert client.is_closed


# -- the keywords of the conveniences ------------------------------------------------------

RETRY_KEYWORDS = {
    name
    for name, parameter in inspect.signature(RetryingAsyncTransport).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name != "events"
}


async def test_a_misspelt_keyword_raises_a_type_error_naming_this_librarys_function() -> None:
    with pytest.raises(
        TypeError,
        match=r"AsyncResilientClient\.__init__\(\) got an unexpected keyword.*'max_retrys'",
    ):
        AsyncResilientClient(max_retrys=3)  # type: ignore[call-arg]
    with pytest.raises(
        TypeError,
        match=r"create_async_resilient_client\(\) got an unexpected keyword.*'max_retrys'",
    ):
        create_async_resilient_client(max_retrys=3)  # type: ignore[call-arg]
    with pytest.raises(
        TypeError, match=r"simple_async_request\(\) got an unexpected keyword.*'max_retrys'"
    ):
        await simple_async_request("GET", URL, max_retrys=1)  # type: ignore[call-arg]


def test_the_conveniences_take_every_retry_keyword_of_the_transport_explicitly() -> None:
    for convenience in (AsyncResilientClient, create_async_resilient_client, simple_async_request):
        parameters = inspect.signature(convenience).parameters
        assert set(parameters) >= RETRY_KEYWORDS, convenience
        assert all(
            parameters[name].kind is inspect.Parameter.KEYWORD_ONLY for name in RETRY_KEYWORDS
        )
        kinds = {parameter.kind for parameter in parameters.values()}
        assert inspect.Parameter.VAR_KEYWORD not in kinds, convenience
        assert repr(parameters["max_retries"].default) == "NOT_GIVEN"


def test_the_client_takes_every_httpx_client_keyword() -> None:
    ours = inspect.signature(AsyncResilientClient).parameters
    # proxies= and app=, deprecated in httpx 0.27, are gone from 0.28.
    theirs = set(inspect.signature(httpx.AsyncClient).parameters) - {"proxies", "app"}
    assert theirs <= set(ours)


def test_the_factory_takes_exactly_the_keywords_of_the_client() -> None:
    factory = inspect.signature(create_async_resilient_client)
    assert factory.parameters == inspect.signature(AsyncResilientClient).parameters


def test_simple_request_takes_the_request_and_client_keywords_of_httpx() -> None:
    ours = set(inspect.signature(simple_async_request).parameters)
    request = {
        name
        for name, parameter in inspect.signature(httpx.AsyncClient.request).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }
    assert request | {"verify", "cert", "trust_env", "proxy", "http1", "http2"} <= ours


class _Spy(RetryingAsyncTransport):
    given: list[set[str]]

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None, **kwargs: Any) -> None:
        _Spy.given.append(set(kwargs))
        super().__init__(transport, **kwargs)


async def test_only_the_retry_keywords_given_reach_the_transport(
    monkeypatch: pytest.MonkeyPatch, local_server: ScriptedServer
) -> None:
    # Keywords not given leave the transport's own defaults, whatever they are.
    monkeypatch.setattr(_keywords, "RetryingAsyncTransport", _Spy)
    _Spy.given = []
    client = AsyncResilientClient(transport=FlakyTransport(failures=0), max_retries=5)
    await client.aclose()
    assert _Spy.given and all(g <= {"max_retries", "events"} for g in _Spy.given)
    assert {"max_retries", "events"} in _Spy.given
    _Spy.given = []
    url = local_server.url
    response = await simple_async_request("GET", url, base_delay=0.5)
    assert response.status_code == 200
    assert _Spy.given and all(g == {"base_delay"} for g in _Spy.given)
