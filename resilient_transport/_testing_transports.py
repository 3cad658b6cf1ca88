"""The inner transports of `resilient_transport.testing`: counting, flaky and scripted.

Re-exported by `resilient_transport.testing`, which is where users import them.
"""

from __future__ import annotations

import collections
import inspect
import threading
from collections.abc import Awaitable, Callable
from typing import Union

from ._context import RequestContext
from ._stack import (
    ASYNC_TRANSPORTS,
    REQUEST_ERRORS,
    RESPONSES,
    SYNC_TRANSPORTS,
    AsyncBaseTransport,
    BaseTransport,
    httpx,
    stack_of,
)

__all__ = ["CountingTransport", "FlakyTransport", "Handler", "Outcome", "ScriptedTransport"]

#: What answers a request: a function of the request that returns a response
#: (or an awaitable of one).
Handler = Callable[[httpx.Request], Union[httpx.Response, Awaitable[httpx.Response]]]  # noqa: UP007
#: One step of a script: an exception (instance or class) to raise, a status
#: code or a response to return, or a handler to call.
Outcome = Union[BaseException, type[BaseException], int, httpx.Response, Handler]  # noqa: UP007


def _ok(request: httpx.Request) -> httpx.Response:
    response: httpx.Response = stack_of(request)[0].Response(200, text="ok")
    return response


def _raise(error: BaseException | type[BaseException], request: httpx.Request) -> None:
    if isinstance(error, type):
        if issubclass(error, REQUEST_ERRORS):
            raise error("simulated failure", request=request)
        raise error("simulated failure")
    raise error


def _fixed(outcome: Outcome, request: httpx.Request) -> httpx.Response | None:
    """The answer of an outcome that is not a handler (or raise it); ``None`` for a handler."""
    if isinstance(outcome, BaseException) or (
        isinstance(outcome, type) and issubclass(outcome, BaseException)
    ):
        _raise(outcome, request)
    if isinstance(outcome, int):
        response: httpx.Response = stack_of(request)[0].Response(outcome, request=request)
        return response
    if isinstance(outcome, RESPONSES):
        return outcome
    return None


async def _answer(outcome: Outcome, request: httpx.Request) -> httpx.Response:
    fixed = _fixed(outcome, request)
    if fixed is not None:
        return fixed
    answer = outcome(request)  # type: ignore[operator]
    if isinstance(answer, Awaitable):
        answer = await answer
    assert isinstance(answer, RESPONSES)
    return answer


def _answer_sync(outcome: Outcome, request: httpx.Request) -> httpx.Response:
    """`_answer` for a synchronous attempt: a handler must return a response, not an awaitable."""
    fixed = _fixed(outcome, request)
    if fixed is not None:
        return fixed
    answer = outcome(request)  # type: ignore[operator]
    if inspect.isawaitable(answer):
        getattr(answer, "close", lambda: None)()  # a coroutine: no "never awaited" warning
        raise TypeError(f"a synchronous request's handler returned an awaitable: {outcome!r}")
    assert isinstance(answer, RESPONSES)
    return answer


class _Counting(AsyncBaseTransport, BaseTransport):
    """The bookkeeping every helper transport here keeps of the attempts it sees.

    Each serves ``httpx.AsyncClient`` (``handle_async_request``) and
    ``httpx.Client`` (``handle_request``), and books attempts from many
    threads at once exactly.
    """

    def __init__(self) -> None:
        self.calls = 0
        self.requests: list[httpx.Request] = []
        self.contexts: list[RequestContext | None] = []
        self.urls: list[httpx.URL] = []
        self.attempts: collections.Counter[str] = collections.Counter()
        self.closed = False
        self._lock = threading.Lock()

    def _record(self, request: httpx.Request) -> tuple[int, str]:
        """Book one attempt of ``request``: its index among all calls, and its request id."""
        ctx = request.extensions.get("retry")
        ctx = ctx if isinstance(ctx, RequestContext) else None
        request_id = "" if ctx is None else ctx.request_id
        with self._lock:
            index = self.calls
            self.calls += 1
            self.requests.append(request)
            self.urls.append(request.url)
            self.contexts.append(ctx)
            self.attempts[request_id] += 1
        return index, request_id

    async def aclose(self) -> None:
        self.closed = True

    def close(self) -> None:
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
        requests, contexts: As for [`FlakyTransport`][resilient_transport.testing.FlakyTransport].
    """

    def __init__(self, inner: httpx.AsyncBaseTransport | httpx.BaseTransport) -> None:
        super().__init__()
        self.inner = inner
        self.answered: collections.Counter[str] = collections.Counter()
        self.failures: dict[str, list[type[BaseException]]] = collections.defaultdict(list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        _, request_id = self._record(request)
        assert isinstance(self.inner, ASYNC_TRANSPORTS), "an async inner transport"
        try:
            response = await self.inner.handle_async_request(request)
        except BaseException as exc:
            self._book(request_id, exc)
            raise
        self._book(request_id, None)
        return response

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        _, request_id = self._record(request)
        assert isinstance(self.inner, SYNC_TRANSPORTS), "a synchronous inner transport"
        try:
            response = self.inner.handle_request(request)
        except BaseException as exc:
            self._book(request_id, exc)
            raise
        self._book(request_id, None)
        return response

    def _book(self, request_id: str, error: BaseException | None) -> None:
        with self._lock:
            if error is None:
                self.answered[request_id] += 1
            else:
                self.failures[request_id].append(type(error))

    async def aclose(self) -> None:
        assert isinstance(self.inner, ASYNC_TRANSPORTS), "an async inner transport"
        await self.inner.aclose()
        self.closed = True

    def close(self) -> None:
        assert isinstance(self.inner, SYNC_TRANSPORTS), "a synchronous inner transport"
        self.inner.close()
        self.closed = True


class FlakyTransport(_Counting):
    """Fails the first ``failures`` attempts of each request, then answers.

    Requests are told apart by the request id of their
    [`RequestContext`][resilient_transport.RequestContext], so many
    concurrent requests each get their own count.

    Args:
        failures: Failed attempts per request, or ``request -> int``.
        error: Exception class or instance raised by a failed attempt;
            default ``httpx.ConnectError`` (the request never left).
        handler: Answers the attempts that do not fail; default ``200 "ok"``.

    Attributes:
        calls: Attempts received in all.
        requests: Every request received, in order (one object per request,
            received again on each retry).
        contexts: The [`RequestContext`][resilient_transport.RequestContext] of
            each attempt, in order.
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

    def _fails(self, request: httpx.Request) -> bool:
        _, request_id = self._record(request)
        seen = self.attempts[request_id]
        failures = self._failures(request) if callable(self._failures) else self._failures
        return seen <= failures

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._fails(request):
            _raise(self._error, request)
        return await _answer(self._handler, request)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._fails(request):
            _raise(self._error, request)
        return _answer_sync(self._handler, request)


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

    def _next(self, request: httpx.Request) -> Outcome:
        index, _ = self._record(request)
        return self._script[index] if index < len(self._script) else self._then

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await _answer(self._next(request), request)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return _answer_sync(self._next(request), request)
