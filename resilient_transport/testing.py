"""Helpers to test code that uses resilient_transport, instantly and exactly.

- `CountingTransport`: wraps a real inner transport and counts the
  attempts that reach it, per request id.
- `FlakyTransport`: an inner transport whose every request fails its
  first N attempts with a connect error (or any error), then is answered.
- `ScriptedTransport`: an inner transport that follows one script of
  outcomes, call after call.
- `RecordingSleep`: an instant ``sleep`` that records the delays asked.
- `EventRecorder`: an event stream to hand a transport, and the list of
  what it received.
- `set_instant_sleep`: one line that makes every transport's backoff
  instant, for a whole test session.

Example:

```python
inner = FlakyTransport(failures=2)
sleep = RecordingSleep()
transport = RetryingAsyncTransport(inner, sleep=sleep)
async with httpx.AsyncClient(transport=transport) as client:
    response = await client.get("http://service.test/")
assert inner.calls == 3 and len(sleep.delays) == 2
```
"""

from __future__ import annotations

import collections
import math
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Union

import anyio
import anyio.lowlevel
import httpx

from . import _sleep
from ._context import RequestContext
from ._events import AsyncEvent, EventType

__all__ = [
    "CountingTransport",
    "EventRecorder",
    "FlakyTransport",
    "RecordingSleep",
    "Handler",
    "Outcome",
    "ScriptedTransport",
    "set_instant_sleep",
]

#: What answers a request: a function of the request that returns a response
#: (or an awaitable of one).
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
    """The bookkeeping every helper transport here keeps of the attempts it sees."""

    def __init__(self) -> None:
        self.calls = 0
        self.requests: list[httpx.Request] = []
        self.contexts: list[RequestContext | None] = []
        self.urls: list[httpx.URL] = []
        self.attempts: collections.Counter[str] = collections.Counter()
        self.closed = False

    def _record(self, request: httpx.Request) -> str:
        """Book one attempt of ``request``; return its request id ("" if none)."""
        self.calls += 1
        self.requests.append(request)
        self.urls.append(request.url)
        ctx = request.extensions.get("retry")
        ctx = ctx if isinstance(ctx, RequestContext) else None
        self.contexts.append(ctx)
        request_id = "" if ctx is None else ctx.request_id
        self.attempts[request_id] += 1
        return request_id

    async def aclose(self) -> None:
        self.closed = True


class CountingTransport(_Counting):
    """Wraps a real inner transport and books every attempt that reaches it.

    Put it under a `RetryingAsyncTransport` to count the attempts a request
    really made, per request id, over real sockets:

    ```python
    inner = CountingTransport(httpx.AsyncHTTPTransport())
    transport = RetryingAsyncTransport(inner)
    ```

    Attributes:
        calls: Attempts in all.
        attempts: Attempts per request id ("" for a request without one).
        answered: Attempts that returned a response, per request id.
        failures: Exception types the attempts raised, per request id.
        urls: The URL of every attempt, as sent.
        requests, contexts: As for :class:`FlakyTransport`.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        super().__init__()
        self.inner = inner
        self.answered: collections.Counter[str] = collections.Counter()
        self.failures: dict[str, list[type[BaseException]]] = collections.defaultdict(list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request_id = self._record(request)
        try:
            response = await self.inner.handle_async_request(request)
        except BaseException as exc:
            self.failures[request_id].append(type(exc))
            raise
        self.answered[request_id] += 1
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()
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
        urls: The URL of every attempt, as sent.
        attempts: Attempts received per request id ("" for a request without one).
    """

    def __init__(
        self,
        failures: int | Callable[[httpx.Request], int] = 1,
        *,
        error: BaseException | type[BaseException] = httpx.ConnectError,
        handler: Handler | None = None,
    ) -> None:
        super().__init__()
        self._failures = failures
        self._error = error
        self._handler: Handler = _ok if handler is None else handler

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        seen = self.attempts[self._record(request)]
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

    def __init__(self, *script: Outcome, then: Outcome | None = None) -> None:
        super().__init__()
        self._script = list(script)
        self._then: Outcome = _ok if then is None else then

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


class _InstantSleep:
    """What `set_instant_sleep` returns: leaving it as a context manager restores the setting."""

    __slots__ = ("_previous",)

    def __init__(self, previous: bool) -> None:
        self._previous = previous

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _sleep.set_instant(self._previous)


def set_instant_sleep(enabled: bool = True) -> _InstantSleep:
    """Make every transport's backoff sleeps instant (or real again), process-wide.

    For your own test suite: with it, a test in which respx or a fake inner
    transport raises ``httpx.ConnectError`` does not wait through real
    backoff. One line in ``conftest.py`` covers the whole session:

    ```python
    resilient_transport.testing.set_instant_sleep()
    ```

    It also works as a context manager, which restores the previous setting
    on exit (in a fixture, say):

    ```python
    with set_instant_sleep():
        ...
    ```

    Only the default sleep is affected (a transport given its own ``sleep=``
    keeps it); an instant sleep is still a checkpoint, so cancellation
    behaves as in a real one. Attempts, delays asked, events and results are
    unchanged: the events' ``delay`` is still the delay that was chosen.

    Args:
        enabled: ``True`` for instant sleeps, ``False`` for real ones again.

    Raises:
        TypeError: ``enabled`` is not a bool.
    """
    return _InstantSleep(_sleep.set_instant(enabled))
