"""RetryingAsyncTransport: exactly the right number of attempts, and nothing else changed.

Attempts are counted two ways: by respx routes (respx's default mocker patches
httpcore, below the retrying transport, so every request really passes through
it; respx's ``using="httpx"`` mode would bypass custom transports) and by
counting inner transports from ``resilient_transport.testing``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import math
import weakref
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpcore
import httpx
import pytest
import respx

from resilient_transport import RequestContext, RetryBudget, RetryingAsyncTransport
from resilient_transport.testing import (
    CountingTransport,
    FlakyTransport,
    RecordingSleep,
    ScriptedTransport,
)

from ._server import free_port
from ._support import URL

pytestmark = pytest.mark.anyio


def refused() -> httpx.ConnectError:
    return httpx.ConnectError("[Errno 111] Connection refused")


def make_client(inner: httpx.AsyncBaseTransport | None = None, **kwargs: Any) -> httpx.AsyncClient:
    kwargs.setdefault("sleep", RecordingSleep())
    return httpx.AsyncClient(transport=RetryingAsyncTransport(inner, **kwargs))


# -- counted by respx routes ------------------------------------------------------


async def test_success_makes_one_attempt_and_no_retry_respx() -> None:
    async with respx.mock() as router:
        route = router.get(URL).mock(return_value=httpx.Response(200, text="hi"))
        async with make_client() as client:
            response = await client.get(URL)
    assert route.call_count == 1
    assert response.text == "hi"
    assert response.extensions["retry"].current_attempt == 0


async def test_one_connect_error_then_success_makes_two_attempts_respx() -> None:
    async with respx.mock() as router:
        route = router.get(URL).mock(side_effect=[refused(), httpx.Response(200)])
        async with make_client() as client:
            response = await client.get(URL)
    assert route.call_count == 2
    assert response.status_code == 200
    assert response.extensions["retry"].current_attempt == 1


async def test_two_connect_errors_then_success_makes_three_attempts_respx() -> None:
    async with respx.mock() as router:
        route = router.get(URL).mock(side_effect=[refused(), refused(), httpx.Response(200)])
        async with make_client(max_retries=2) as client:
            response = await client.get(URL)
    assert route.call_count == 3
    assert response.status_code == 200
    assert response.extensions["retry"].current_attempt == 2


async def test_persistent_connect_error_makes_three_attempts_then_raises_respx() -> None:
    async with respx.mock() as router:
        route = router.get(URL).mock(side_effect=refused())
        async with make_client(max_retries=2) as client:
            with pytest.raises(httpx.ConnectError, match=r"\[Errno 111\] Connection refused"):
                await client.get(URL)
    assert route.call_count == 3


@pytest.mark.parametrize(
    "outcome",
    [
        httpx.ReadTimeout("read timed out"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.ReadError("connection reset"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_other_errors_make_exactly_one_attempt_respx(outcome: Exception) -> None:
    async with respx.mock() as router:
        route = router.get(URL).mock(side_effect=outcome)
        async with make_client(max_retries=5) as client:
            with pytest.raises(type(outcome)):
                await client.get(URL)
    assert route.call_count == 1


@pytest.mark.parametrize("status", [404, 500, 503])
async def test_http_errors_are_responses_and_make_exactly_one_attempt_respx(status: int) -> None:
    async with respx.mock() as router:
        route = router.get(URL).mock(return_value=httpx.Response(status))
        async with make_client(max_retries=5) as client:
            response = await client.get(URL)
    assert route.call_count == 1
    assert response.status_code == status


# -- counted by a counting inner transport ------------------------------------------


async def test_success_makes_one_attempt_and_no_retry() -> None:
    inner = FlakyTransport(failures=0)
    sleep = RecordingSleep()
    async with make_client(inner, sleep=sleep) as client:
        response = await client.get(URL)
    assert inner.calls == 1
    assert sleep.delays == []
    assert response.extensions["retry"].current_attempt == 0


async def test_one_connect_error_then_success_makes_two_attempts() -> None:
    inner = FlakyTransport(failures=1)
    async with make_client(inner) as client:
        response = await client.get(URL)
    assert inner.calls == 2
    assert response.status_code == 200


async def test_two_connect_errors_then_success_makes_three_attempts() -> None:
    inner = FlakyTransport(failures=2)
    sleep = RecordingSleep()
    async with make_client(inner, max_retries=2, sleep=sleep) as client:
        response = await client.get(URL)
    assert inner.calls == 3
    assert response.status_code == 200
    assert response.extensions["retry"].current_attempt == 2
    assert len(sleep.delays) == 2


async def test_persistent_connect_error_reraises_the_last_exception_unchanged() -> None:
    errors = [httpx.ConnectError(f"refused #{i}") for i in range(3)]
    inner = ScriptedTransport(*errors)
    async with make_client(inner, max_retries=2) as client:
        with pytest.raises(httpx.ConnectError) as info:
            await client.get(URL)
    assert inner.calls == 3
    assert info.value is errors[-1]
    assert str(info.value) == "refused #2"


async def test_raw_httpcore_connect_error_is_retried_and_propagates_as_itself() -> None:
    inner = ScriptedTransport(*[httpcore.ConnectError("raw refusal")] * 3)
    async with make_client(inner, max_retries=2) as client:
        with pytest.raises(httpcore.ConnectError, match="raw refusal") as info:
            await client.get(URL)
    assert inner.calls == 3
    assert type(info.value) is httpcore.ConnectError


async def test_raw_httpcore_connect_errors_then_success() -> None:
    inner = ScriptedTransport(httpcore.ConnectError("a"), httpcore.ConnectError("b"), 200)
    async with make_client(inner, max_retries=2) as client:
        response = await client.get(URL)
    assert inner.calls == 3
    assert response.status_code == 200


@pytest.mark.parametrize(
    "outcome",
    [
        httpx.ReadTimeout("t"),
        httpx.ConnectTimeout("t"),
        httpx.ReadError("r"),
        httpx.RemoteProtocolError("p"),
        httpcore.ReadTimeout("t"),
        httpcore.ConnectTimeout("t"),
        httpcore.ReadError("r"),
        httpcore.RemoteProtocolError("p"),
        ValueError("not a transport error"),
        404,
        500,
        503,
    ],
    ids=lambda o: str(o) if isinstance(o, int) else f"{type(o).__module__}.{type(o).__name__}",
)
async def test_everything_but_connect_errors_makes_exactly_one_attempt(outcome: Any) -> None:
    inner = ScriptedTransport(outcome, then=200)
    async with make_client(inner, max_retries=5) as client:
        if isinstance(outcome, int):
            response = await client.get(URL)
            assert response.status_code == outcome
        else:
            with pytest.raises(type(outcome)) as info:
                await client.get(URL)
            assert info.value is outcome
    assert inner.calls == 1


async def test_post_with_a_body_is_retried_after_connect_errors() -> None:
    inner = FlakyTransport(failures=2, handler=lambda r: httpx.Response(201, content=r.read()))
    async with make_client(inner) as client:
        response = await client.post(URL, json={"a": 1})
    assert inner.calls == 3
    assert response.json() == {"a": 1}


# -- the context, per request ---------------------------------------------------------


async def test_each_attempt_sees_a_new_context_in_the_request_extensions() -> None:
    inner = FlakyTransport(failures=2)
    async with make_client(inner) as client:
        await client.get(URL, extensions={"retry": RequestContext(request_id="users")})
    contexts = [c for c in inner.contexts if c is not None]
    assert [c.current_attempt for c in contexts] == [0, 1, 2]
    assert {c.request_id for c in contexts} == {"users"}
    assert len({id(c) for c in contexts}) == 3


async def test_a_context_override_is_used_as_given() -> None:
    inner = FlakyTransport(failures=4)
    ctx = RequestContext(max_retries=4, request_id="users", base_delay=0)
    async with make_client(inner, max_retries=0) as client:
        response = await client.get(URL, extensions={"retry": ctx})
    assert inner.calls == 5
    final = response.extensions["retry"]
    assert (final.request_id, final.current_attempt, final.max_retries) == ("users", 4, 4)
    assert ctx.current_attempt == 0  # never mutated


async def test_a_dict_override_is_merged_onto_the_transport_defaults() -> None:
    inner = FlakyTransport(failures=3)
    sleep = RecordingSleep()
    async with make_client(inner, max_retries=1, base_delay=0.25, sleep=sleep) as client:
        response = await client.get(URL, extensions={"retry": {"max_retries": 3, "jitter": 0.0}})
    assert inner.calls == 4
    assert sleep.delays == [0.25, 0.5, 1.0]
    assert response.extensions["retry"].max_retries == 3


async def test_max_retries_zero_override_makes_one_attempt() -> None:
    inner = FlakyTransport(failures=1)
    async with make_client(inner, max_retries=5) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(URL, extensions={"retry": {"max_retries": 0}})
    assert inner.calls == 1


async def test_no_override_or_none_uses_the_transport_defaults() -> None:
    inner = FlakyTransport(failures=3)
    async with make_client(inner, max_retries=3) as client:
        r1 = await client.get(URL)
        r2 = await client.get(URL, extensions={"retry": None})
    assert inner.calls == 8
    ids = {r1.extensions["retry"].request_id, r2.extensions["retry"].request_id}
    assert len(ids) == 2


@pytest.mark.parametrize("bad", [3, "users", ["max_retries"], object()], ids=repr)
async def test_a_bad_override_type_raises_type_error_before_any_attempt(bad: object) -> None:
    inner = FlakyTransport(failures=0)
    async with make_client(inner) as client:
        with pytest.raises(TypeError, match='the "retry" request extension must be'):
            await client.get(URL, extensions={"retry": bad})
    assert inner.calls == 0


@pytest.mark.parametrize(
    ("override", "error", "names"),
    [
        ({"max_retries": -1}, ValueError, "max_retries"),
        ({"base_delay": math.nan}, ValueError, "base_delay"),
        ({"request_id": ""}, ValueError, "request_id"),
        ({"max_retries": "3"}, TypeError, "max_retries"),
        ({"max_retires": 3}, TypeError, "max_retires"),
    ],
)
async def test_a_bad_override_value_raises_naming_the_field_before_any_attempt(
    override: dict[str, Any], error: type[Exception], names: str
) -> None:
    inner = FlakyTransport(failures=0)
    async with make_client(inner) as client:
        with pytest.raises(error, match=names):
            await client.get(URL, extensions={"retry": override})
    assert inner.calls == 0


async def test_the_callers_extensions_dict_is_not_mutated() -> None:
    inner = FlakyTransport(failures=1)
    timeout = {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}
    extensions: dict[str, Any] = {"timeout": timeout}
    async with make_client(inner) as client:
        await client.get(URL, extensions=extensions)
    assert set(extensions) == {"timeout"}


# -- concurrency, bodies, backoff ------------------------------------------------------


async def test_fifty_concurrent_requests_each_get_exactly_their_own_count() -> None:
    failures = {f"req-{i}": i % 4 for i in range(60)}
    inner = FlakyTransport(failures=lambda r: failures[r.extensions["retry"].request_id])
    finals: dict[str, int] = {}
    async with make_client(inner, max_retries=3) as client:

        async def one(request_id: str) -> None:
            ctx = RequestContext(max_retries=3, request_id=request_id, base_delay=0)
            response = await client.get(URL, extensions={"retry": ctx})
            finals[request_id] = response.extensions["retry"].current_attempt

        async with anyio.create_task_group() as tg:
            for request_id in failures:
                tg.start_soon(one, request_id)
    assert finals == failures
    assert inner.attempts == {k: v + 1 for k, v in failures.items()}
    assert inner.calls == sum(failures.values()) + len(failures)


async def test_a_streamed_request_body_arrives_intact_after_connect_retries() -> None:
    received: list[bytes] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        received.append(await request.aread())
        return httpx.Response(200)

    async def body() -> AsyncIterator[bytes]:
        for i in range(100):
            yield f"chunk-{i};".encode()

    inner = FlakyTransport(failures=2, handler=answer)
    async with make_client(inner) as client:
        response = await client.post(URL, content=body())
    assert response.status_code == 200
    assert inner.calls == 3
    assert received == [b"".join(f"chunk-{i};".encode() for i in range(100))]


async def test_backoff_delays_follow_the_context() -> None:
    sleep = RecordingSleep()
    inner = FlakyTransport(failures=3)
    async with make_client(
        inner, max_retries=3, base_delay=0.5, max_delay=1.5, sleep=sleep, random=lambda: 0.0
    ) as client:
        await client.get(URL)
    assert sleep.delays == [0.5, 1.0, 1.5]


async def test_default_backoff_is_jittered_under_the_doubling_ceiling() -> None:
    sleep = RecordingSleep()
    async with make_client(FlakyTransport(failures=2), sleep=sleep) as client:
        await client.get(URL)
    assert len(sleep.delays) == 2
    assert 0 < sleep.delays[0] <= 1.0
    assert 0 < sleep.delays[1] <= 2.0


async def test_cancellation_during_an_attempt_propagates_at_once_without_retry() -> None:
    started = anyio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        started.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover

    inner = ScriptedTransport(hang)
    sleep = RecordingSleep()
    async with make_client(inner, sleep=sleep) as client, anyio.create_task_group() as tg:
        tg.start_soon(client.get, URL)
        await started.wait()
        tg.cancel_scope.cancel()
    assert inner.calls == 1
    assert sleep.delays == []


async def test_cancellation_during_backoff_makes_no_further_attempt() -> None:
    inner = FlakyTransport(failures=1)
    sleep = RecordingSleep(block=True)
    async with make_client(inner, sleep=sleep) as client:
        with anyio.move_on_after(5) as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.get, URL)
                while not sleep.sleeping:
                    await anyio.lowlevel.checkpoint()
                tg.cancel_scope.cancel()
        assert not scope.cancelled_caught
    assert inner.calls == 1
    assert sleep.sleeping == 0


# -- a real closed port on 127.0.0.1 ---------------------------------------------------


class CountingBackend(httpcore.AsyncNetworkBackend):
    """httpcore's own network backend, counting real TCP connection attempts."""

    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()
        self.connects = 0

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        self.connects += 1
        return await self.inner.connect_tcp(*args, **kwargs)

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - unused here
        await self.inner.sleep(seconds)


class HttpcoreTransport(httpx.AsyncBaseTransport):
    """A bare inner transport over an httpcore pool: raises httpcore's own errors."""

    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        self.pool = httpcore.AsyncConnectionPool(network_backend=backend)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raw = httpcore.Request(
            request.method,
            httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
        )
        response = await self.pool.handle_async_request(raw)
        return httpx.Response(response.status, headers=response.headers, content=b"")

    async def aclose(self) -> None:
        await self.pool.aclose()


async def test_a_closed_port_gets_three_real_connection_attempts_then_connect_error() -> None:
    port = free_port()
    counting = CountingTransport(httpx.AsyncHTTPTransport())
    async with make_client(counting, max_retries=2) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/")
    assert counting.calls == 3


async def test_a_closed_port_through_raw_httpcore_counts_three_tcp_connects() -> None:
    port = free_port()
    backend = CountingBackend()
    async with make_client(HttpcoreTransport(backend), max_retries=2) as client:
        with pytest.raises(httpcore.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/")
    assert backend.connects == 3


# -- construction and lifecycle ---------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_retries": -1}, ValueError, "max_retries must be >= 0, got -1"),
        ({"max_retries": 2.0}, TypeError, "max_retries must be an int, got 2.0"),
        ({"base_delay": -1}, ValueError, "base_delay must be a finite number >= 0, got -1"),
        ({"base_delay": math.inf}, ValueError, "base_delay must be a finite number >= 0, got inf"),
        ({"base_delay": "1"}, TypeError, "base_delay must be a number of seconds"),
        ({"max_delay": math.nan}, ValueError, "max_delay must be a finite number >= 0, got nan"),
        # Contradictions only between settings given together (see test_deadline.py).
        ({"base_delay": 2.0, "max_delay": 0.5}, ValueError, "max_delay must be >= base_delay"),
        ({"jitter": 2}, ValueError, "jitter must be between 0 and 1, got 2"),
        ({"deadline": -1.0}, ValueError, "deadline must be a finite number > 0 or None, got -1.0"),
        ({"base_delay": 2.0, "deadline": 0.1}, ValueError, "deadline must be >= base_delay"),
        ({"retry_connect_timeouts": "yes"}, TypeError, "retry_connect_timeouts must be a bool"),
        ({"retry_idempotent_errors": None}, TypeError, "retry_idempotent_errors must be a bool"),
        ({"retry_statuses": 503}, TypeError, "retry_statuses must be a collection of ints"),
        (
            {"retry_statuses": [700]},
            ValueError,
            "retry_statuses must hold error statuses (400-599)",
        ),
        ({"max_retry_after": -3}, ValueError, "max_retry_after must be a finite number >= 0"),
        ({"budget": 10}, TypeError, "budget must be a RetryBudget or None, got 10"),
        ({"events": []}, TypeError, "events must be an anyio memory object send stream"),
        ({"sleep": 0}, TypeError, "sleep must be callable, got 0"),
        ({"clock": None}, TypeError, "clock must be callable, got None"),
        ({"random": 0.5}, TypeError, "random must be callable, got 0.5"),
    ],
)
def test_invalid_constructor_values_raise_naming_the_keyword(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as info:
        RetryingAsyncTransport(httpx.AsyncBaseTransport(), **kwargs)
    assert str(info.value).startswith(message)


def test_an_inner_transport_of_the_wrong_type_is_rejected() -> None:
    with pytest.raises(TypeError, match=r"transport must be an httpx\.AsyncBaseTransport or None"):
        RetryingAsyncTransport(httpx.HTTPTransport())  # type: ignore[arg-type]


def test_unknown_keywords_and_extra_positionals_are_rejected() -> None:
    with pytest.raises(TypeError):
        RetryingAsyncTransport(None, max_retires=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        RetryingAsyncTransport(None, 3)  # type: ignore[call-arg]


async def test_none_means_a_default_httpx_transport() -> None:
    transport = RetryingAsyncTransport()
    assert type(transport.transport) is httpx.AsyncHTTPTransport
    await transport.aclose()


def test_the_transport_exposes_its_defaults_and_budget() -> None:
    budget = RetryBudget()
    transport = RetryingAsyncTransport(
        httpx.AsyncBaseTransport(), max_retries=4, retry_statuses=[503], budget=budget
    )
    assert transport.defaults.max_retries == 4
    assert transport.defaults.retry_statuses == {503}
    assert transport.budget is budget
    assert transport.dropped_events == 0
    assert "max_retries=4" in repr(transport)


async def test_aclose_closes_the_inner_transport() -> None:
    inner = FlakyTransport(failures=0)
    transport = RetryingAsyncTransport(inner)
    await transport.aclose()
    assert inner.closed


async def test_the_transport_is_an_async_context_manager_forwarding_to_the_inner() -> None:
    inner = FlakyTransport(failures=0)
    async with RetryingAsyncTransport(inner) as transport:
        assert isinstance(transport, RetryingAsyncTransport)
        assert not inner.closed
    assert inner.closed


async def test_the_retrying_transport_subclasses_httpx_async_base_transport() -> None:
    assert issubclass(RetryingAsyncTransport, httpx.AsyncBaseTransport)


def test_every_policy_field_of_the_context_is_a_transport_keyword_passed_through() -> None:
    values: dict[str, Any] = {
        "max_retries": 7,
        "base_delay": 0.3,
        "max_delay": 9.0,
        "jitter": 0.5,
        "deadline": 30.0,
        "retry_connect_timeouts": True,
        "retry_idempotent_errors": True,
        "retry_statuses": frozenset({503}),
        "max_retry_after": 5.0,
        "hedge_delay": 0.05,
        "max_hedges": 3,
    }
    per_request_only = {"current_attempt", "request_id", "metadata"}
    fields = {f.name for f in dataclasses.fields(RequestContext) if f.init} - per_request_only
    assert fields == set(values)
    defaults = RetryingAsyncTransport(httpx.AsyncBaseTransport(), **values).defaults
    assert {name: getattr(defaults, name) for name in values} == values


@pytest.mark.parametrize("port", [0, 65536, 99999])
async def test_a_port_outside_1_to_65535_is_refused_before_any_attempt(port: int) -> None:
    # trio would connect to the port modulo 65536; asyncio fails in the socket layer.
    inner = FlakyTransport(failures=0)
    async with httpx.AsyncClient(transport=RetryingAsyncTransport(inner)) as client:
        with pytest.raises(httpx.InvalidURL, match=f"Invalid port: {port}"):
            await client.get(f"http://127.0.0.1:{port}/?token=SECRET")
    assert inner.calls == 0


async def test_ports_1_and_65535_are_sent() -> None:
    inner = FlakyTransport(failures=0)
    async with httpx.AsyncClient(transport=RetryingAsyncTransport(inner)) as client:
        for port in (1, 65535):
            assert (await client.get(f"http://service.test:{port}/")).status_code == 200
    assert inner.calls == 2


@pytest.mark.parametrize("failures", [1, 5])  # retried then answered; given up
async def test_a_failed_attempt_leaves_no_reference_cycle_behind(failures: int) -> None:
    # A cycle through an exception's traceback (a frame holding the exception
    # that holds the frame) is freed only by the garbage collector: with it
    # off, the exception must still go as soon as nobody holds it.
    inner = FlakyTransport(failures=failures)
    transport = RetryingAsyncTransport(inner, max_retries=1, sleep=RecordingSleep())
    errors: list[weakref.ref[BaseException]] = []
    original = inner.handle_async_request

    async def recording(request: httpx.Request) -> httpx.Response:
        try:
            return await original(request)
        except httpx.ConnectError as exc:
            errors.append(weakref.ref(exc))
            raise

    inner.handle_async_request = recording  # type: ignore[method-assign]
    gc.disable()
    try:
        with contextlib.suppress(httpx.ConnectError):
            await transport.handle_async_request(httpx.Request("GET", "http://service.test/"))
        assert errors
        assert [ref() for ref in errors] == [None] * len(errors)
    finally:
        gc.enable()
