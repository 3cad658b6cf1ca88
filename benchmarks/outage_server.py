"""An upstream with a finite capacity that can brown out or go down, for the outage scenario.

It answers ``200 OK`` while it has capacity (a token bucket of ``--capacity``
requests per second, 50 ms of burst) and ``503`` with ``Retry-After: 1``
above it. It is driven on stdin, one command a line, and answers on stdout:

- ``RUN MODE START SECONDS CAPACITY`` — from ``START`` (a ``time.monotonic()``
  reading; the clock is the machine's, shared by every process) for
  ``SECONDS``: ``brownout`` lowers the capacity to ``CAPACITY`` per second;
  ``down`` closes the listening socket and every open connection (connecting
  is refused), then listens again on the same port. Answers ``OK``.
- ``LOG`` — one JSON line: ``[[monotonic time, status], ...]`` for every
  request since the last ``RUN``.

It prints ``PORT <n>`` once it listens, on 127.0.0.1 only, and ends when
stdin closes.

    python benchmarks/outage_server.py [--capacity 800]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time

_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 4\r\n\r\nbusy"
)


class Upstream:
    """The capacity, the log and the open connections."""

    def __init__(self, capacity: float) -> None:
        self.normal = capacity
        self.capacity = capacity
        self.tokens = capacity / 20
        self.last = time.monotonic()
        self.log: list[tuple[float, int]] = []
        self.connections: set[asyncio.Transport] = set()

    def admit(self) -> bytes:
        now = time.monotonic()
        burst = max(1.0, self.capacity / 20)
        self.tokens = min(burst, self.tokens + (now - self.last) * self.capacity)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            self.log.append((now, 200))
            return _OK
        self.log.append((now, 503))
        return _BUSY


class _Protocol(asyncio.Protocol):
    def __init__(self, upstream: Upstream) -> None:
        self._upstream = upstream
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._upstream.connections.add(self._transport)  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        # GETs without a body: a request ends at its blank line.
        self._buffer += data
        out = []
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            self._buffer = self._buffer[end + 4 :]
            out.append(self._upstream.admit())
        if out and self._transport is not None:
            self._transport.write(b"".join(out))

    def connection_lost(self, exc: Exception | None) -> None:
        self._upstream.connections.discard(self._transport)  # type: ignore[arg-type]
        self._transport = None


async def main(capacity: float) -> None:
    loop = asyncio.get_running_loop()
    upstream = Upstream(capacity)

    async def listen(port: int) -> asyncio.Server:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        return await loop.create_server(lambda: _Protocol(upstream), sock=sock, backlog=4096)

    server = await listen(0)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)

    async def outage(mode: str, start: float, seconds: float, low: float) -> None:
        nonlocal server
        await asyncio.sleep(max(0.0, start - time.monotonic()))
        if mode == "brownout":
            upstream.capacity = low
            upstream.tokens = min(upstream.tokens, max(1.0, low / 20))
        else:
            server.close()
            for transport in list(upstream.connections):
                transport.abort()
        await asyncio.sleep(max(0.0, start + seconds - time.monotonic()))
        if mode == "brownout":
            upstream.capacity = upstream.normal
        else:
            await server.wait_closed()
            server = await listen(port)

    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    tasks = set()
    while line := (await reader.readline()).decode():
        words = line.split()
        if words[0] == "RUN":
            upstream.log = []
            task = asyncio.create_task(
                outage(words[1], float(words[2]), float(words[3]), float(words[4]))
            )
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            print("OK", flush=True)
        elif words[0] == "LOG":
            print(json.dumps(upstream.log), flush=True)
    server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=float, default=800.0)
    asyncio.run(main(parser.parse_args().capacity))
