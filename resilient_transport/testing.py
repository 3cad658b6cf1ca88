"""Helpers to test code that uses resilient_transport, instantly and exactly.

- :class:`FlakyTransport`: an inner transport whose every request fails its
  first N attempts with a connect error (or any error), then is answered.
- :class:`ScriptedTransport`: an inner transport that follows one script of
  outcomes, call after call.
- :class:`RecordingSleep`: an instant ``sleep`` that records the delays asked.
- :class:`EventRecorder`: an event stream to hand a transport, and the list
  of what it received.

Example::

    inner = FlakyTransport(failures=2)
    sleep = RecordingSleep()
    transport = RetryingAsyncTransport(inner, sleep=sleep)
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get("http://service.test/")
    assert inner.calls == 3 and len(sleep.delays) == 2
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Union

import anyio
import anyio.lowlevel
import httpx

from ._context import RequestContext
from ._events import AsyncEvent, EventType

__all__ = ["EventRecorder", "FlakyTransport", "RecordingSleep", "ScriptedTransport"]

Handler = Callable[[httpx.Request], Union[httpx.Response, Awaitable[httpx.Response]]]  # noqa: UP007
#: One step of a script: an exception (instance or class) to raise, a status
#: code or a response to return, or a handler to call.
Outcome = Union[BaseException, type[BaseException], int, httpx.Response, Handler]  # noqa: UP007


def _ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text="ok")


def _raise(error: BaseException | type[BaseException], request: httpx.Request) -> None:
    if isinstance(error, type):
        if issubclass(error, httpx.RequestError):
            raise error("simulated failure", request=request)
        raise error("simulated failure")
    raise error


async def _answer(outcome: Outcome, request: httpx.Request) -> httpx.Response:
    if isinstance(outcome, BaseException) or (
        isinstance(outcome, type) and issubclass(outcome, BaseException)
    ):
        _raise(outcome, request)
    if isinstance(outcome, int):
        return httpx.Response(outcome, request=request)
    if isinstance(outcome, httpx.Response):
        return outcome
    answer = outcome(request)  # type: ignore[operator]
    if isinstance(answer, Awaitable):
        answer = await answer
    assert isinstance(answer, httpx.Response)
    return answer


class _Counting(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.calls = 0
        self.requests: list[httpx.Request] = []
        self.contexts: list[RequestContext | None] = []
        self.closed = False

    def _record(self, request: httpx.Request) -> RequestContext | None:
        self.calls += 1
        self.requests.append(request)
        ctx = request.extensions.get("retry")
        self.contexts.append(ctx if isinstance(ctx, RequestContext) else None)
        return self.contexts[-1]

    async def aclose(self) -> None:
        self.closed = True


class FlakyTransport(_Counting):
    """Fails the first ``failures`` attempts of each request, then answers.

    Requests are told apart by their :class:`RequestContext` request id, so
    many concurrent requests each get their own count.

    Args:
        failures: Failed attempts per request, or ``request -> int``.
        error: Exception class or instance raised by a failed attempt;
            default ``httpx.ConnectError`` (the request never left).
        handler: Answers the attempts that do not fail; default ``200 "ok"``.

    Attributes:
        calls: Attempts received in all.
        requests: Every request received, in order (one object per request,
            received again on each retry).
        contexts: The :class:`RequestContext` each attempt carried, in order.
        attempts: Attempts received per request id.
    """

    def __init__(
        self,
        failures: int | Callable[[httpx.Request], int] = 1,
        *,
        error: BaseException | type[BaseException] = httpx.ConnectError,
        handler: Handler = _ok,
    ) -> None:
        super().__init__()
        self._failures = failures
        self._error = error
        self._handler = handler
        self.attempts: dict[str, int] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        ctx = self._record(request)
        key = "" if ctx is None else ctx.request_id
        seen = self.attempts[key] = self.attempts.get(key, 0) + 1
        failures = self._failures(request) if callable(self._failures) else self._failures
        if seen <= failures:
            _raise(self._error, request)
        return await _answer(self._handler, request)


class ScriptedTransport(_Counting):
    """Answers each call with the next outcome of a script, then with ``then``.

    Args:
        *script: Outcomes in order: an exception (class or instance) to raise,
            a status code or an ``httpx.Response`` to return, or a handler.
        then: The outcome once the script is spent; default ``200 "ok"``.
    """

    def __init__(self, *script: Outcome, then: Outcome = _ok) -> None:
        super().__init__()
        self._script = list(script)
        self._then = then

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = self.calls
        self._record(request)
        outcome = self._script[index] if index < len(self._script) else self._then
        return await _answer(outcome, request)


class RecordingSleep:
    """An instant ``sleep`` for :class:`RetryingAsyncTransport` that records the delays.

    Each call still passes a checkpoint, so cancellation works as with a real
    sleep. With ``block=True`` it never returns instead (until cancelled):
    the way to hold a request in its backoff.

    Attributes:
        delays: The delays asked for, in order.
    """

    def __init__(self, *, block: bool = False) -> None:
        self.delays: list[float] = []
        self._block = block
        self.sleeping = 0

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if not self._block:
            await anyio.lowlevel.checkpoint()
            return
        self.sleeping += 1
        try:
            await anyio.sleep_forever()
        finally:
            self.sleeping -= 1

    @property
    def total(self) -> float:
        """Seconds that would have been slept."""
        return math.fsum(self.delays)


class EventRecorder:
    """Receives a transport's events in a list, with no monitor running.

    Give :attr:`send` to a transport as ``events=``; read :attr:`events`.
    The stream is unbounded, so nothing is dropped. Close the recorder
    (``with EventRecorder() as recorder:``) when done; the transport closes
    the send end when it is closed.
    """

    def __init__(self) -> None:
        self.send, self._receive = anyio.create_memory_object_stream[AsyncEvent](math.inf)
        self._events: list[AsyncEvent] = []

    @property
    def events(self) -> list[AsyncEvent]:
        """Every event received so far, in order."""
        while True:
            try:
                self._events.append(self._receive.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                return list(self._events)

    def types(self, request_id: str | None = None) -> list[EventType]:
        """The event types received (for one request, if given), in order."""
        return [e.event_type for e in self.events if request_id in (None, e.request_id)]

    def __call__(self, event: AsyncEvent) -> None:
        """Record ``event``: an :class:`EventRecorder` is also a monitor callback."""
        self._events.append(event)

    def close(self) -> None:
        """Close both ends of the stream."""
        self.events  # noqa: B018 - keep what was sent before closing
        self.send.close()
        self._receive.close()

    def __enter__(self) -> EventRecorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
