"""Hedged requests over real 127.0.0.1 sockets: the losers' connections are released, none leak."""

from __future__ import annotations

import anyio
import httpx
import pytest

from resilient_transport import EventType, RetryingAsyncTransport
from resilient_transport.testing import EventRecorder

from ._hedging import TailServer, client_sockets, open_fds

pytestmark = pytest.mark.anyio


async def test_a_slow_answer_loses_to_a_hedge_and_its_connection_is_closed() -> None:
    server = TailServer(slow=lambda n: 30.0 if n == 0 else 0.0)
    async with server.serving():
        port = httpx.URL(server.url).port
        assert port is not None
        transport = RetryingAsyncTransport(hedge_delay=0.005)
        async with httpx.AsyncClient(transport=transport) as client:
            with anyio.fail_after(5):
                response = await client.get(server.url)
            assert response.text == "ok"
            assert response.extensions["retry"].current_attempt == 1
            # The loser's connection is gone; the winner's is back in the pool.
            assert client_sockets(port) == 1
            with anyio.fail_after(5):
                while server.open != 1:  # the server saw the loser's connection close
                    await server.changed.wait()
        assert client_sockets(port) == 0


async def test_a_thousand_hedged_requests_leave_no_socket_or_connection_behind() -> None:
    # One request in ten answers after 20 ms: hedges are sent, and lose, often.
    server = TailServer(slow=lambda n: 0.02 if n % 10 == 0 else 0.0)
    async with server.serving():
        port = httpx.URL(server.url).port
        assert port is not None
        fds = open_fds()
        with EventRecorder() as recorder:
            transport = RetryingAsyncTransport(
                hedge_delay=0.01, max_hedges=2, events=recorder.send
            )
            async with httpx.AsyncClient(transport=transport) as client:

                async def worker(count: int) -> None:
                    for _ in range(count):
                        assert (await client.get(server.url)).text == "ok"

                with anyio.fail_after(60):
                    async with anyio.create_task_group() as group:
                        for _ in range(10):
                            group.start_soon(worker, 100)
            events = recorder.events
        terminal = [e for e in events if e.is_terminal]
        hedges = sum(e.event_type is EventType.HEDGE for e in events)
        assert len(terminal) == 1000
        assert all(e.event_type is EventType.SUCCESS for e in terminal)
        assert 0 < hedges < 2000
        assert sum(e.attempts for e in terminal) == 1000 + hedges
        # A hedge cancelled before it was written never reached the server.
        assert 1000 < server.requests <= 1000 + hedges
        assert client_sockets(port) == 0
        with anyio.fail_after(5):
            while server.open:  # the losers' connections close as the server sees them go
                await server.changed.wait()
        assert open_fds() == fds
