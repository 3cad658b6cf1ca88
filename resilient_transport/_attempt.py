"""What happens to a request and its responses between attempts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from types import AsyncGeneratorType

import anyio
import httpx

from ._classify import DeadlineExceeded
from ._redact import redact_url

__all__ = ["TrackedStream", "check_port", "clamp_timeouts", "drain", "send_within"]

# A retried response whose Content-Length is at most this many bytes is read
# before it is closed, so that its keep-alive connection goes back to the pool
# instead of being torn down; a larger (or unknown) body is not worth it.
_DRAIN_LIMIT = 65_536


class TrackedStream(httpx.AsyncByteStream):
    """Wraps a one-shot request body to know whether sending it has begun."""

    __slots__ = ("_stream", "started")

    def __init__(self, stream: httpx.AsyncByteStream) -> None:
        self._stream = stream
        self.started = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        # Hands out the wrapped stream's own iterator rather than wrapping it
        # in a generator of ours: one suspended async generator less to be
        # finalized when a write fails midway (trio warns about each).
        self.started = True
        return self._stream.__aiter__()

    async def aclose(self) -> None:
        await self._stream.aclose()


def check_port(request: httpx.Request) -> None:
    """Refuse, before any attempt, a port outside 1-65535.

    Trio would connect to the port modulo 65536; asyncio fails deep in the
    socket layer.

    Raises:
        httpx.InvalidURL: The port is out of range (the URL shown redacted).
    """
    port = request.url.port
    if port is not None and not 0 < port < 65536:
        raise httpx.InvalidURL(
            f"Invalid port: {port!r} (must be 1 to 65535) in {redact_url(request.url)}"
        )


def clamp_timeouts(request: httpx.Request, remaining: float) -> None:
    """Make no phase of the next attempt outlast the request's deadline."""
    remaining = max(remaining, 0.0)
    timeouts = request.extensions.get("timeout")
    if not isinstance(timeouts, Mapping):
        timeouts = {}
    clamped: dict[str, float] = {}
    for phase in ("connect", "read", "write", "pool"):
        value = timeouts.get(phase)
        clamped[phase] = remaining if value is None else min(float(value), remaining)
    request.extensions = {**request.extensions, "timeout": clamped}


async def send_within(
    transport: httpx.AsyncBaseTransport,
    request: httpx.Request,
    remaining: float,
    deadline: float,
) -> httpx.Response:
    """One attempt through ``transport``, bounded as a whole by the ``remaining`` seconds.

    Per-phase timeouts are clamped too, but they bound each read, not a
    response head that trickles in a byte at a time: the cancel scope bounds
    the whole attempt, until its response head, and ends it with
    `DeadlineExceeded` (an ``httpx.TimeoutException``).
    """
    clamp_timeouts(request, remaining)
    with anyio.move_on_after(max(remaining, 0.0)):
        return await transport.handle_async_request(request)
    raise DeadlineExceeded(
        f"the request's deadline of {deadline:g} s passed before a response arrived",
        request=request,
    )


async def drain(response: httpx.Response) -> None:
    """Read a small retried response to its end, then close it: never leak a connection."""
    try:
        # Only a body known to be small is read, and always to its end: that
        # returns its keep-alive connection to the pool. Stopping midway would
        # save nothing (the connection is discarded on close anyway) and would
        # leave httpcore's stream generators suspended, which trio reports as
        # a ResourceWarning when they are collected.
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) <= _DRAIN_LIMIT:
            chunks = response.stream.__aiter__()  # type: ignore[union-attr]
            try:
                received = 0
                async for chunk in chunks:
                    received += len(chunk)
                    if received > _DRAIN_LIMIT:  # longer than it said: give up on it
                        break
            finally:
                if isinstance(chunks, AsyncGeneratorType):  # finalize it now, not at GC
                    await chunks.aclose()
    except Exception:  # the connection is discarded on close; nothing to save
        pass
    finally:
        await response.aclose()
