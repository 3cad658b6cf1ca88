"""Tiny HTTP/1.1 servers on 127.0.0.1 for tests: started and stopped by the test itself."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc

#: (method, path, headers) -> (status, headers, body)
Handler = Callable[[str, str, dict[str, str]], tuple[int, dict[str, str], bytes]]

_REASONS = {
    200: "OK",
    201: "Created",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def free_port() -> int:
    """A port on 127.0.0.1 with nothing listening on it (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ok(method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    return 200, {"content-type": "text/plain"}, f"{method} {path}".encode()


async def _serve_one(stream: anyio.abc.SocketStream, handler: Handler, served: list[str]) -> None:
    async with stream:
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                try:
                    chunk = await stream.receive(65536)
                except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                    return
                buffer += chunk
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            while len(buffer) < length:
                try:
                    buffer += await stream.receive(65536)
                except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                    return
            buffer = buffer[length:]
            served.append(f"{method} {path}")
            status, extra, body = handler(method, path, headers)
            out = [
                f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
                f"content-length: {len(body)}",
            ]
            out += [f"{k}: {v}" for k, v in extra.items()]
            try:
                await stream.send("\r\n".join(out).encode() + b"\r\n\r\n" + body)
            except (anyio.BrokenResourceError, OSError):
                return


@asynccontextmanager
async def http_server(
    handler: Handler = ok, port: int = 0
) -> AsyncIterator[tuple[str, list[str]]]:
    """Serve ``handler`` on 127.0.0.1; yield (base URL, list of "METHOD path" served)."""
    served: list[str] = []
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=port)
    bound = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:

        async def serve() -> None:
            await listener.serve(lambda s: _serve_one(s, handler, served))

        tg.start_soon(serve)
        try:
            yield f"http://127.0.0.1:{bound}", served
        finally:
            tg.cancel_scope.cancel()
