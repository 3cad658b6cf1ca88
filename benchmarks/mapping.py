#!/usr/bin/env python
"""What an aiohttp-backed inner transport tells the retry layer, over real sockets.

    python benchmarks/mapping.py

Runs the same faults on 127.0.0.1 through httpx-aiohttp's ``AiohttpTransport``
and through resilient_transport's own ``AiohttpTransport``
(each inside an ``httpx.AsyncClient``, no retry layer), and prints what each
raised and what the server saw. The retry layer decides on exactly these
facts. The untrusted-certificate row needs ``trustme`` (in the ``test``
extra); it is left out without it.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from collections.abc import Callable
from typing import Any

from measured import use_library

use_library()  # the measured library (this checkout's, or $RT_BENCH_TREE) first on sys.path

import httpx  # noqa: E402
from contenders import aiohttp_transport_class  # noqa: E402

from resilient_transport import classify_error  # noqa: E402


class Server:
    """Answers ``/reset`` with a TCP reset once the request is read, anything else with 200."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                path = head[0].split(" ")[1]
                headers = {}
                for line in head[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                self.requests.append((path, headers))
                if path == "/reset":
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def outcome(error: BaseException | None) -> str:
    if error is None:
        return "answered"
    kind = classify_error(error).value
    return f"`{type(error).__module__}.{type(error).__qualname__}` ({kind})"


async def probe(make: Callable[..., httpx.AsyncBaseTransport]) -> dict[str, str]:
    rows: dict[str, str] = {}
    server = Server()
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    refusing = socket.socket()
    refusing.bind(("127.0.0.1", 0))
    try:
        async with listener, httpx.AsyncClient(transport=make(), timeout=5.0) as client:
            error: BaseException | None = None
            try:
                await client.get(f"http://127.0.0.1:{refusing.getsockname()[1]}/")
            except httpx.HTTPError as exc:
                error = exc
            rows["refused connection"] = outcome(error)
            error = None
            try:
                await client.get(f"{base}/reset")
            except httpx.HTTPError as exc:
                error = exc
            sent = sum(path == "/reset" for path, _ in server.requests)
            rows["reset after the request"] = f"{outcome(error)}; the server got it {sent} time(s)"
            client.headers.pop("user-agent")
            await client.get(f"{base}/agent")
            agent = server.requests[-1][1].get("user-agent")
            rows["`User-Agent` removed by the caller"] = f"sent: {agent!r}"
    finally:
        refusing.close()
    rows.update(await untrusted_certificate(make))
    return rows


async def untrusted_certificate(make: Callable[..., httpx.AsyncBaseTransport]) -> dict[str, str]:
    try:
        import trustme
    except ImportError:
        return {}
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(context)
    server = Server()
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0, ssl=context)
    url = f"https://127.0.0.1:{listener.sockets[0].getsockname()[1]}/"
    error: BaseException | None = None
    async with listener, httpx.AsyncClient(transport=make(), timeout=5.0) as client:
        try:
            await client.get(url)
        except httpx.HTTPError as exc:
            error = exc
    return {"untrusted certificate": outcome(error)}


async def main() -> None:
    import httpx_aiohttp

    transport = aiohttp_transport_class()
    ours = transport.__module__.removeprefix("resilient_transport.")  # e.g. integrations.aiohttp
    found: dict[str, dict[str, Any]] = {
        "httpx-aiohttp": await probe(httpx_aiohttp.AiohttpTransport),
        ours: await probe(transport),
    }
    print("Command: python benchmarks/mapping.py\n")
    print("| fault, on 127.0.0.1 | " + " | ".join(found) + " |")
    print("|---|" + "---|" * len(found))
    for row in found[ours]:
        print(f"| {row} | " + " | ".join(found[name].get(row, "-") for name in found) + " |")
    print(
        "\nIn parentheses: the safety class resilient_transport.classify_error() gives the "
        "exception (not_sent: retried; not_sent_timeout: retried only with "
        "retry_connect_timeouts; maybe_processed: retried only with retry_idempotent_errors, "
        "for idempotent requests; certificate: never)."
    )


if __name__ == "__main__":
    asyncio.run(main())
