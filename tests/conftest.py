"""Shared fixtures: every async test runs on asyncio and on trio, on loopback only."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from ._server import ScriptedServer, echo, serving
from ._sync_server import SyncServer, sync_serving


@pytest.fixture(
    params=[
        pytest.param("asyncio", id="asyncio"),
        pytest.param("trio", id="trio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """The anyio backend of the test: each async test runs once per backend."""
    return str(request.param)


def _is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def _loopback_only() -> Iterator[None]:
    """Refuse, in this process, any connection or name lookup beyond 127.0.0.0/8 and ::1.

    Every test talks only to servers it starts on 127.0.0.1; this makes a
    mistake (a real transport pointed at ``service.test``, say) fail loudly
    instead of sending a DNS query or a SYN anywhere else.
    """
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_loopback(host):
            raise socket.gaierror(f"tests must not use the network: tried to resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def check(address: Any) -> None:
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            raise OSError(f"tests must not use the network: tried {address[0]!r}")

    def connect(self: Any, address: Any) -> None:
        check(address)
        real_connect(self, address)

    def connect_ex(self: Any, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    socket.getaddrinfo = getaddrinfo
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    try:
        yield
    finally:
        socket.getaddrinfo = real_getaddrinfo
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]


@pytest.fixture
async def local_server() -> AsyncIterator[ScriptedServer]:
    """The suite's local server on 127.0.0.1, answering `echo`; its base URL is ``.url``.

    For a script of replies (drop, hang, trickle, TLS), a test builds its own
    ``ScriptedServer`` and runs it with ``serving`` (``tests/_server.py``).
    """
    server = ScriptedServer(then=echo)
    async with serving(server):
        yield server


@pytest.fixture
def sync_server() -> Iterator[SyncServer]:
    """A threaded HTTP server on 127.0.0.1 for synchronous tests (``tests/_sync_server.py``)."""
    with sync_serving() as server:
        yield server
