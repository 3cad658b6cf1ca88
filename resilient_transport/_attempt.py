"""What happens to a request and its responses between attempts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from types import AsyncGeneratorType

import httpx

__all__ = ["TrackedStream", "clamp_timeouts", "drain"]

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
