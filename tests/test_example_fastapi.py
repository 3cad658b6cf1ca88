"""The FastAPI example, for real: both the app and its upstream served by uvicorn on 127.0.0.1.

The upstream's socket is bound but not listening at first, so the kernel
refuses the app's first connections; it starts listening when the app's
client reports its second retry, so the third attempt is answered.

These tests run on asyncio only: uvicorn serves on asyncio, not trio.
"""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import anyio
import anyio.abc
import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from resilient_transport import AsyncEvent, AsyncResilientClient, EventType
from resilient_transport.testing import FlakyTransport

pytestmark = pytest.mark.anyio

APP_PATH = Path(__file__).resolve().parent.parent / "examples" / "fastapi_app" / "app.py"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # uvicorn runs on asyncio only


@pytest.fixture(scope="module")
def example() -> Iterator[ModuleType]:
    """The example's module, loaded from its file (examples/ is not a package)."""
    name = "_fastapi_example_app"
    spec = importlib.util.spec_from_file_location(name, APP_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it executes
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[name]


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's proxy settings must not reroute 127.0.0.1 traffic.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves the test process's signal handlers alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bound_socket() -> socket.socket:
    """A TCP socket bound to a free 127.0.0.1 port, not listening yet (so: refusing)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def url_of(sock: socket.socket) -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


def upstream_app() -> FastAPI:
    upstream = FastAPI()

    @upstream.get("/quote")
    async def quote() -> dict[str, str]:
        return {"text": "Simple is better than complex."}

    return upstream


def serve(app: Any, *, lifespan: Literal["auto", "on", "off"] = "on") -> QuietServer:
    config = uvicorn.Config(app, lifespan=lifespan, log_level="warning", ws="none", http="h11")
    return QuietServer(config)


@contextlib.asynccontextmanager
async def running(
    app: FastAPI, task_group: anyio.abc.TaskGroup
) -> AsyncIterator[tuple[str, AsyncResilientClient]]:
    """Serve the example app; yield its URL and the client its lifespan created."""
    sock = bound_socket()
    server = serve(app)
    task_group.start_soon(server.serve, [sock])
    try:
        for _ in range(1000):  # ten seconds at most
            if server.started:
                break
            await anyio.sleep(0.01)
        assert server.started, "the app did not start"
        yield url_of(sock), app.state.upstream
    finally:
        server.should_exit = True


async def test_the_route_succeeds_once_the_upstream_listens_after_two_refusals(
    example: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream_sock = bound_socket()
    monkeypatch.setenv("UPSTREAM_URL", url_of(upstream_sock))
    monkeypatch.setenv("UPSTREAM_MAX_RETRIES", "3")
    monkeypatch.setenv("UPSTREAM_BASE_DELAY", "0.05")
    upstream = serve(upstream_app(), lifespan="off")
    retries: list[int] = []
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:

            def on_retry(event: AsyncEvent) -> None:
                retries.append(event.attempts)
                if event.attempts == 2:
                    upstream_sock.listen()  # from now on, connections are accepted
                    tg.start_soon(upstream.serve, [upstream_sock])

            app = example.create_app()
            async with running(app, tg) as (app_url, client):
                client.add_event_callback(EventType.RETRY, on_retry)
                async with httpx.AsyncClient(base_url=app_url, trust_env=False) as http:
                    response = await http.get("/quote", headers={"x-request-id": "q-1"})
                await client.wait_for_all_requests()
                result = client.get_result("q-1")
                upstream.should_exit = True
    assert response.status_code == 200
    assert response.json() == {
        "request_id": "q-1",
        "upstream_status": 200,
        "quote": {"text": "Simple is better than complex."},
        "attempts": 3,
    }
    assert retries == [1, 2]
    assert result is not None
    assert (result.attempts, result.outcome, result.status_code) == (3, EventType.SUCCESS, 200)
    assert client.is_closed  # the lifespan closed it on shutdown


async def test_the_route_answers_502_when_the_upstream_never_listens(
    example: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream_sock = bound_socket()
    monkeypatch.setenv("UPSTREAM_URL", url_of(upstream_sock))
    monkeypatch.setenv("UPSTREAM_MAX_RETRIES", "2")
    monkeypatch.setenv("UPSTREAM_BASE_DELAY", "0")
    try:
        with anyio.fail_after(20):
            async with (
                anyio.create_task_group() as tg,
                running(example.create_app(), tg) as (app_url, _),
                httpx.AsyncClient(base_url=app_url, trust_env=False) as http,
            ):
                response = await http.get("/quote", headers={"x-request-id": "q-2"})
    finally:
        upstream_sock.close()
    assert response.status_code == 502
    assert response.json()["detail"] == {
        "error": "upstream unavailable: ConnectError",
        "request_id": "q-2",
        "attempts": 3,
        "reason": "exhausted",
    }


async def test_the_app_can_be_tested_in_process_with_a_flaky_inner_transport(
    example: ModuleType,
) -> None:
    # How users test their own app: no upstream at all, a scripted inner transport.
    flaky = FlakyTransport(failures=1, handler=lambda request: httpx.Response(200, json="hi"))
    settings = example.Settings(upstream_url="http://upstream.test", base_delay=0)
    app = example.create_app(settings, transport=flaky)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as http:
            response = await http.get("/quote")
    assert response.json()["attempts"] == 2
    assert response.json()["quote"] == "hi"
    assert flaky.calls == 2


def test_the_settings_come_from_the_environment(example: ModuleType) -> None:
    settings = example.Settings.from_env(
        {"UPSTREAM_URL": "http://u.test", "UPSTREAM_MAX_RETRIES": "5", "UPSTREAM_TIMEOUT": "1.5"}
    )
    assert (settings.upstream_url, settings.max_retries, settings.timeout) == (
        "http://u.test",
        5,
        1.5,
    )
    with pytest.raises(RuntimeError, match="set UPSTREAM_URL"):
        example.Settings.from_env({})
