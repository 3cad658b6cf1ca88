"""A FastAPI app that calls a flaky upstream through one shared ``AsyncResilientClient``.

The client is created in the app's lifespan handler, so it (and the monitor
task it runs) starts before the first request and is closed after the last.
Every retry and outcome is logged by the logging integration.

Run it against any upstream that serves ``GET /quote``::

    UPSTREAM_URL=http://127.0.0.1:9000 uvicorn examples.fastapi_app.app:app

Settings, from the environment:

- ``UPSTREAM_URL`` (required): the upstream's base URL.
- ``UPSTREAM_MAX_RETRIES`` (default 3), ``UPSTREAM_BASE_DELAY`` (seconds,
  default 0.2), ``UPSTREAM_TIMEOUT`` (seconds, default 5).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException, Request

from resilient_transport import AsyncResilientClient
from resilient_transport.integrations.logs import instrument as log_events


@dataclass(frozen=True)
class Settings:
    """How to reach the upstream."""

    upstream_url: str
    max_retries: int = 3
    base_delay: float = 0.2
    timeout: float = 5.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Read the settings from ``UPSTREAM_*`` environment variables."""
        if not environ.get("UPSTREAM_URL"):
            raise RuntimeError("set UPSTREAM_URL to the upstream's base URL")
        return cls(
            upstream_url=environ["UPSTREAM_URL"],
            max_retries=int(environ.get("UPSTREAM_MAX_RETRIES", "3")),
            base_delay=float(environ.get("UPSTREAM_BASE_DELAY", "0.2")),
            timeout=float(environ.get("UPSTREAM_TIMEOUT", "5")),
        )


def create_app(
    settings: Settings | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build the app.

    Args:
        settings: Default: read from the environment when the app starts.
        transport: The inner transport under the retry layer; tests pass a
            ``resilient_transport.testing.FlakyTransport`` here.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        config = settings or Settings.from_env()
        # One client for the whole app: one connection pool, one monitor task.
        # It must be entered and left in this handler: its monitor runs in a
        # task group that lives exactly as long as the `async with` block.
        async with AsyncResilientClient(
            base_url=config.upstream_url,
            transport=transport,
            max_retries=config.max_retries,
            base_delay=config.base_delay,
            timeout=config.timeout,
        ) as client:
            log_events(client)
            app.state.upstream = client
            yield

    app = FastAPI(title="quotes", lifespan=lifespan)

    @app.get("/quote")
    async def quote(request: Request) -> dict[str, Any]:
        client: AsyncResilientClient = request.app.state.upstream
        # Reuse the caller's request id, so one id follows the request
        # through this app's logs, its retry events and the upstream's logs.
        request_id = request.headers.get("x-request-id") or str(uuid.uuid4())
        try:
            response = await client.get(
                "/quote",
                headers={"x-request-id": request_id},
                extensions={"retry": {"request_id": request_id}},
            )
        except httpx.HTTPError as exc:
            # Retries ran out (or the error is not one that is retried).
            # The monitor holds the request's story once its events are processed.
            await client.wait_for_all_requests()
            result = client.get_result(request_id)
            raise HTTPException(
                status_code=502,
                detail={
                    "error": f"upstream unavailable: {type(exc).__name__}",
                    "request_id": request_id,
                    "attempts": result.attempts if result else None,
                    "reason": result.reason.value if result and result.reason else None,
                },
            ) from exc
        return {
            "request_id": request_id,
            "upstream_status": response.status_code,
            "quote": response.json(),
            # The final context counts the retries that were made.
            "attempts": response.extensions["retry"].current_attempt + 1,
        }

    return app


app = create_app()
