"""A minimal HTTP/1.1 keep-alive server for the loopback benchmarks.

It answers every request with the same small ``200 OK`` and does nothing
else, so that the clients, not the server, are what is measured. It parses
just enough HTTP/1.1 to find where each request ends (header block, then a
``Content-Length`` body if any; pipelined requests are answered in order).

Run by ``run.py`` in a separate process (``--workers N`` processes share the
port with ``SO_REUSEPORT``); it prints ``PORT <n>`` once it listens and runs
until it is terminated. Listens on 127.0.0.1 only.

    python benchmarks/server.py [--port 0] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import signal
import socket
import sys

BODY = b"ok"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n"
    b"\r\n" + BODY
)
_MAX_HEAD = 65_536


class _HttpProtocol(asyncio.Protocol):
    __slots__ = ("_buffer", "_transport")

    def __init__(self) -> None:
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        answered = 0
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buffer[:end]
            length = 0
            at = head.lower().find(b"\r\ncontent-length:")
            if at >= 0:
                line_end = head.find(b"\r\n", at + 2)
                value = head[at + 17 : line_end if line_end >= 0 else len(head)]
                length = int(value.strip() or b"0")
            total = end + 4 + length
            if len(buffer) < total:
                break
            buffer = buffer[total:]
            answered += 1
        if answered and self._transport is not None:
            self._transport.write(RESPONSE * answered)
        if len(buffer) > _MAX_HEAD and self._transport is not None:
            self._transport.close()
            buffer = b""
        self._buffer = buffer

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


def _serve(sock: socket.socket) -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_HttpProtocol, sock=sock, backlog=4096)
        async with server:
            await server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        asyncio.run(main())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(4096)
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    workers = [
        multiprocessing.get_context("fork").Process(target=_serve, args=(sock,), daemon=True)
        for _ in range(max(args.workers, 1) - 1)
    ]
    for worker in workers:
        worker.start()
    print(f"PORT {port} PIDS {' '.join(str(p) for p in [os.getpid(), *(w.pid for w in workers)])}")
    sys.stdout.flush()
    _serve(sock)
    for worker in workers:
        worker.terminate()
        worker.join(timeout=5)


if __name__ == "__main__":
    main()
