"""What the hedging tests share: an inner transport that answers each attempt by its number.

Hedges run at the same time, and trio shuffles the order in which ready
tasks run: an attempt is told apart by its context's ``current_attempt``
(0 for the first, k for the k-th hedge), never by the order of the calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Union

import anyio
import anyio.abc
import httpx
import psutil  # type: ignore[import-untyped]

from resilient_transport import AsyncEvent, EventType, RetryingAsyncTransport
from resilient_transport.testing import EventRecorder

URL = "http://service.test/resource"


class Hang:
    """A step: wait until cancelled."""


class Shielded:
    """A step: wait for ``gate`` where no cancellation reaches, then answer 200."""

    def __init__(self, gate: anyio.Event) -> None:
        self.gate = gate


class After:
    """A step: wait for ``gate``, then do ``step``."""

    def __init__(self, gate: anyio.Event, step: Step) -> None:
        self.gate = gate
        self.step = step


HANG = Hang()
#: What an attempt does: a status to answer, a response, an exception to
#: raise, HANG, an event to wait for (then 200), a `Shielded` wait, or `After`.
Step = Union[int, httpx.Response, BaseException, Hang, anyio.Event, Shielded, "After"]


class Body(httpx.AsyncByteStream):
    """A response body that knows whether it was closed."""

    def __init__(self) -> None:
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"ok"

    async def aclose(self) -> None:
        self.closed = True


class Attempts(httpx.AsyncBaseTransport):
    """Answers attempt k as ``plan[k]`` says (default 200); counts calls, live, cancelled."""

    def __init__(self, plan: dict[int, Step] | None = None) -> None:
        self.plan = plan or {}
        self.calls = 0
        self.live = 0
        self.most_live = 0
        self.cancelled = 0
        self.seen: list[int] = []
        self.requests: list[httpx.Request] = []
        self.bodies: dict[int, Body] = {}
        self.changed = anyio.Event()  # set (and replaced) whenever ``live`` changes

    def _live(self, change: int) -> None:
        self.live += change
        self.most_live = max(self.most_live, self.live)
        self.changed.set()
        self.changed = anyio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = request.extensions["retry"].current_attempt
        self.calls += 1
        self.seen.append(index)
        self.requests.append(request)
        self._live(+1)
        try:
            step = self.plan.get(index, 200)
            if isinstance(step, After):
                await step.gate.wait()
                step = step.step
            if isinstance(step, Hang):
                await anyio.sleep_forever()
            if isinstance(step, anyio.Event):
                await step.wait()
                step = 200
            if isinstance(step, Shielded):
                with anyio.CancelScope(shield=True):
                    await step.gate.wait()
                step = 200
            if isinstance(step, BaseException):
                raise step
            if isinstance(step, httpx.Response):
                return step
            assert isinstance(step, int)
            body = self.bodies[index] = Body()
            return httpx.Response(step, stream=body, request=request)
        except anyio.get_cancelled_exc_class():
            self.cancelled += 1
            raise
        finally:
            self._live(-1)


async def send(
    inner: httpx.AsyncBaseTransport,
    *,
    method: str = "GET",
    extensions: dict[str, Any] | None = None,
    content: Any = None,
    headers: dict[str, str] | None = None,
    **keywords: Any,
) -> tuple[httpx.Response | Exception, list[AsyncEvent]]:
    """One request through a hedging transport: its response (body read) or error, its events."""
    with EventRecorder() as recorder:
        transport = RetryingAsyncTransport(inner, events=recorder.send, base_delay=0, **keywords)
        async with httpx.AsyncClient(transport=transport) as client:
            result: httpx.Response | Exception
            try:
                with anyio.fail_after(10):
                    result = await client.request(
                        method, URL, extensions=extensions, content=content, headers=headers
                    )
            except Exception as exc:
                result = exc
        events = recorder.events
    assert [event.is_terminal for event in events].count(True) == 1
    assert events[-1].is_terminal
    return result, events


def types(events: list[AsyncEvent]) -> list[EventType]:
    return [event.event_type for event in events]


class TailServer:
    """A keep-alive HTTP/1.1 server on 127.0.0.1 whose n-th request waits ``slow(n)`` seconds.

    Bodiless requests only. Counts requests received and connections open
    (a connection is open until its handler sees the client close it).
    """

    def __init__(self, slow: Callable[[int], float]) -> None:
        self.slow = slow
        self.requests = 0
        self.open = 0
        self.url = ""
        self.changed = anyio.Event()  # set (and replaced) whenever ``open`` changes

    def _open(self, change: int) -> None:
        self.open += change
        self.changed.set()
        self.changed = anyio.Event()

    async def handle(self, stream: anyio.abc.SocketStream) -> None:
        self._open(+1)
        try:
            async with stream:
                buffer = b""
                while True:
                    while b"\r\n\r\n" not in buffer:
                        buffer += await stream.receive()
                    _, _, buffer = buffer.partition(b"\r\n\r\n")
                    index = self.requests
                    self.requests += 1
                    delay = self.slow(index)
                    if delay:
                        # Slow, but watching: a client that gives up closes the
                        # connection, which ends the wait (EndOfStream).
                        with anyio.move_on_after(delay):
                            await stream.receive()
                            return  # httpx never sends a request before the answer
                    await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
            return
        finally:
            self._open(-1)

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[TailServer]:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        self.url = f"http://127.0.0.1:{port}/"
        async with listener, anyio.create_task_group() as group:
            group.start_soon(listener.serve, self.handle)
            try:
                yield self
            finally:
                group.cancel_scope.cancel()


def open_fds() -> int:
    """File descriptors this process has open."""
    return int(psutil.Process().num_fds())


def client_sockets(port: int) -> int:
    """This process's TCP sockets connected to ``port`` (the client ends)."""
    process = psutil.Process()
    connections = getattr(process, "net_connections", process.connections)(kind="tcp")
    return sum(1 for c in connections if c.raddr and c.raddr.port == port)
