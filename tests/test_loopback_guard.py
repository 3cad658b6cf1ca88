"""The suite's own safety net: nothing in this process reaches beyond loopback."""

from __future__ import annotations

import socket

import pytest


def test_lookups_and_connects_beyond_loopback_are_refused() -> None:
    # 0.0.0.0 is numeric (no DNS query) and local: safe even if the guard broke.
    with pytest.raises(OSError, match="tests must not use the network"):
        socket.getaddrinfo("0.0.0.0", 9)
    with socket.socket() as sock, pytest.raises(OSError, match="tests must not use the network"):
        sock.connect(("0.0.0.0", 9))
    with socket.socket() as sock, pytest.raises(OSError, match="tests must not use the network"):
        sock.connect_ex(("0.0.0.0", 9))


def test_loopback_still_works() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert socket.getaddrinfo("localhost", 9)
        with socket.create_connection(server.getsockname(), timeout=5):
            pass
        conn, _ = server.accept()
        conn.close()
