"""The suite's one local HTTP/1.1 server: scripted, on 127.0.0.1 (h11, optionally TLS).

It runs in the test's own event loop (asyncio or trio, through anyio), answers
each request with the next `Reply` of a script (a status, a drop, a hang, a
trickled head), and counts what a retry policy must be judged by: TCP
connections accepted, TLS handshakes that failed, requests received. The
``local_server`` fixture (``conftest.py``) runs one that answers `echo`.

The raw fault-injecting server of ``tests/reliability/_rawserver.py`` stays
apart: it breaks HTTP itself (malformed heads, resets mid-body, half-closed
sockets), which an h11 server refuses to do by design.
"""

from __future__ import annotations

import dataclasses
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import h11
from anyio.streams.tls import TLSStream

# What a connection may raise when the other side goes away; the server then
# just stops serving that connection.
_GONE = (
    anyio.EndOfStream,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    OSError,
    ssl.SSLError,
)


@dataclasses.dataclass(frozen=True)
class Reply:
    """What the server does with one request.

    Attributes:
        status: The response status.
        headers: Extra response headers (``content-length`` is added).
        body: The response body.
        action: ``"respond"``; ``"drop"``: close the connection without a
            response (a stale keep-alive, a crash after reading the request);
            ``"hang"``: never answer; ``"trickle"``: send the response head
            one byte every ``interval`` seconds.
        interval: Seconds between the bytes of a trickled head.
    """

    status: int = 200
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: bytes = b"ok"
    action: str = "respond"
    interval: float = 0.05


@dataclasses.dataclass
class Received:
    """One request as the server read it; ``index`` counts from 0 over the server's life."""

    index: int
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


def echo(request: Received) -> Reply:
    """A 200 whose body names the request: ``"POST /echo"``."""
    return Reply(
        200, {"content-type": "text/plain"}, f"{request.method} {request.target}".encode()
    )


def free_port() -> int:
    """A port on 127.0.0.1 with nothing listening on it (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ScriptedServer:
    """Answers the n-th request with ``script[n]``, then with ``then``.

    Args:
        script: Replies in order.
        then: The reply once the script is spent, or a function of the request.
        ssl_context: Serve TLS with this context.

    Attributes:
        connections: TCP connections accepted.
        handshake_failures: TLS handshakes that failed.
        requests: Every request read, in order.
    """

    def __init__(
        self,
        *script: Reply,
        then: Reply | Callable[[Received], Reply] = Reply(),
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._script: Sequence[Reply] = script
        self._then = then
        self._ssl_context = ssl_context
        #: The base URL, once `serving` runs the server.
        self.url = ""
        self.connections = 0
        self.handshake_failures = 0
        #: Bytes of trickled response heads sent so far.
        self.trickled = 0
        self.requests: list[Received] = []

    @property
    def scheme(self) -> str:
        """``"https"`` when serving TLS, else ``"http"``."""
        return "http" if self._ssl_context is None else "https"

    @property
    def served(self) -> list[str]:
        """Every request read, as ``"METHOD target"``."""
        return [f"{r.method} {r.target}" for r in self.requests]

    def _reply(self, request: Received) -> Reply:
        if request.index < len(self._script):
            return self._script[request.index]
        return self._then(request) if callable(self._then) else self._then

    async def handle(self, raw: anyio.abc.SocketStream) -> None:
        """Serve one connection until either side closes it."""
        self.connections += 1
        stream: anyio.abc.ByteStream = raw
        async with raw:
            if self._ssl_context is not None:
                try:
                    stream = await TLSStream.wrap(
                        raw,
                        server_side=True,
                        ssl_context=self._ssl_context,
                        standard_compatible=False,
                    )
                except _GONE:
                    self.handshake_failures += 1
                    return
            try:
                await self._serve(stream)
            except _GONE:
                return

    async def _serve(self, stream: anyio.abc.ByteStream) -> None:
        conn = h11.Connection(h11.SERVER)
        while True:
            event = await _next_event(conn, stream)
            if not isinstance(event, h11.Request):
                return
            body = b""
            while True:
                part = await _next_event(conn, stream)
                if isinstance(part, h11.Data):
                    body += part.data
                elif isinstance(part, h11.EndOfMessage):
                    break
                else:
                    return
            self.requests.append(
                Received(
                    len(self.requests),
                    event.method.decode(),
                    event.target.decode(),
                    {k.decode(): v.decode() for k, v in event.headers},
                    body,
                )
            )
            reply = self._reply(self.requests[-1])
            if reply.action == "drop":
                return
            if reply.action == "hang":
                await anyio.sleep_forever()
            headers = [*reply.headers.items(), ("content-length", str(len(reply.body)))]
            head = conn.send(h11.Response(status_code=reply.status, headers=headers))
            if reply.action == "trickle":
                for index in range(len(head)):
                    await anyio.sleep(reply.interval)
                    await stream.send(head[index : index + 1])
                    self.trickled += 1
            else:
                await stream.send(head)
            if reply.body:
                await stream.send(conn.send(h11.Data(data=reply.body)))
            await stream.send(conn.send(h11.EndOfMessage()))
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()


async def _next_event(conn: h11.Connection, stream: anyio.abc.ByteStream) -> object:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        try:
            data = await stream.receive(65536)
        except anyio.EndOfStream:
            data = b""
        conn.receive_data(data)


@asynccontextmanager
async def serving(server: ScriptedServer) -> AsyncIterator[str]:
    """Run ``server`` on 127.0.0.1 for the block; yield its base URL."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, server.handle)
        server.url = f"{server.scheme}://127.0.0.1:{port}"
        try:
            yield server.url
        finally:
            tg.cancel_scope.cancel()
