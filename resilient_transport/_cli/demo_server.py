"""The demo's HTTP server: on 127.0.0.1, refusing connections until it comes up late."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream

__all__ = ["LateServer"]

# Limits of the demo server: it answers the demo's own small requests, and
# must never hang or grow on anything else.
_MAX_HEAD = 16_384
_MAX_BODY = 65_536
_HANDLER_TIMEOUT = 5.0


class LateServer:
    """A tiny HTTP/1.1 server on 127.0.0.1 that refuses connections until it opens.

    Construction binds a port without listening on it: every connection to it
    is refused, exactly as when a service is down, and no other socket can
    take the port meanwhile (not even one of the demo's own connections as
    its ephemeral port). ``serve`` opens it after a delay.

    Every request gets a small JSON answer (``201`` for a ``POST``, else
    ``200``) and ``Connection: close``.

    Attributes:
        port: The port, on 127.0.0.1.
        served: Requests answered so far.
    """

    def __init__(self) -> None:
        reserved = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            reserved.bind(("127.0.0.1", 0))
        except BaseException:  # pragma: no cover - the loopback has no free port
            reserved.close()
            raise
        self._reserved = reserved
        self.port: int = reserved.getsockname()[1]
        self.served = 0

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    async def serve(self, delay: float, on_listening: Callable[[], object] = lambda: None) -> None:
        """Refuse connections for ``delay`` seconds, then answer requests until cancelled.

        Raises:
            OSError: The port could not be listened on.
        """
        with self._reserved:
            await anyio.sleep(delay)
        # The port is free for the instant between the close above and the
        # bind below; the listener binds with SO_REUSEADDR, so nothing of ours
        # stands in its way.
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=self.port)
        on_listening()
        async with listener:
            await listener.serve(self._handle)

    def close(self) -> None:
        """Release the reserved port, if ``serve`` has not."""
        self._reserved.close()

    async def _handle(self, stream: anyio.abc.SocketStream) -> None:
        async with stream:
            with anyio.move_on_after(_HANDLER_TIMEOUT):
                try:
                    method, target = await _read_request(BufferedByteReceiveStream(stream))
                    await stream.send(_response(method, target))
                except (
                    anyio.IncompleteRead,
                    anyio.DelimiterNotFound,
                    anyio.EndOfStream,
                    anyio.BrokenResourceError,
                    ValueError,
                ):
                    return  # a broken or malformed request: hang up
                self.served += 1


async def _read_request(receive: BufferedByteReceiveStream) -> tuple[str, str]:
    """Read one request; return its method and target. ``ValueError`` if malformed."""
    head = await receive.receive_until(b"\r\n\r\n", _MAX_HEAD)
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, target, _version = request_line.split(" ")
    length = 0
    for line in header_lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if not 0 <= length <= _MAX_BODY:
        raise ValueError(f"unacceptable Content-Length {length}")
    await receive.receive_exactly(length)
    return method, target


def _response(method: str, target: str) -> bytes:
    status = "201 Created" if method == "POST" else "200 OK"
    body = json.dumps({"method": method, "path": target}).encode()
    head = (
        f"HTTP/1.1 {status}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n"
        "\r\n"
    )
    return head.encode("ascii") + body
