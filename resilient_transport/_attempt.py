"""What happens to a request and its responses between attempts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from types import AsyncGeneratorType, GeneratorType

import anyio

from ._classify import TIMEOUT_ERRORS, DeadlineExceeded
from ._redact import redact_url
from ._stack import AsyncByteStream, InvalidURL, SyncByteStream, httpx

__all__ = [
    "TRACKED_STREAMS",
    "SyncTrackedStream",
    "TrackedStream",
    "check_port",
    "clamp_timeouts",
    "drain",
    "drain_sync",
    "send_before_deadline",
    "send_within",
]

# A retried response whose Content-Length is at most this many bytes is read
# before it is closed, so that its keep-alive connection goes back to the pool
# instead of being torn down; a larger (or unknown) body is not worth it.
_DRAIN_LIMIT = 65_536


class TrackedStream(AsyncByteStream):
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


class SyncTrackedStream(SyncByteStream):
    """`TrackedStream` for a synchronous one-shot request body."""

    __slots__ = ("_stream", "started")

    def __init__(self, stream: httpx.SyncByteStream) -> None:
        self._stream = stream
        self.started = False

    def __iter__(self) -> Iterator[bytes]:
        self.started = True
        return iter(self._stream)

    def close(self) -> None:
        self._stream.close()


#: The wrappers that tell whether sending a one-shot body has begun.
TRACKED_STREAMS = (TrackedStream, SyncTrackedStream)


def check_port(request: httpx.Request) -> None:
    """Refuse, before any attempt, a port outside 1-65535.

    Trio would connect to the port modulo 65536; asyncio fails deep in the
    socket layer.

    Raises:
        httpx.InvalidURL: The port is out of range (the URL shown redacted); an
            ``httpx2.InvalidURL`` too, with httpx2 installed.
    """
    port = request.url.port
    if port is not None and not 0 < port < 65536:
        raise InvalidURL(
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
    raise DeadlineExceeded(_deadline_message(deadline), request=request)


def _deadline_message(deadline: float) -> str:
    return f"the request's deadline of {deadline:g} s passed before a response arrived"


# A socket timeout clamped to the time left may fire a hair before the clock
# shows the deadline passed (the OS rounds it): still the deadline's doing.
_SLACK = 0.005


def send_before_deadline(
    transport: httpx.BaseTransport,
    request: httpx.Request,
    deadline: float,
    elapsed: Callable[[], float],
) -> httpx.Response:
    """One synchronous attempt, each of its phases bounded by the time left to the deadline.

    No cancel scope can stop a blocking call from outside, so what bounds
    the attempt is its per-phase timeouts (connect, each read, each write,
    the wait for a pooled connection), clamped to the seconds left. A
    timeout raised once the deadline has passed is the deadline's doing and
    becomes `DeadlineExceeded` (chained to it), as the async transport would
    have ended the attempt. A response head that trickles in, each read
    within its timeout, is not cut short: it is returned when it arrives.
    ``elapsed`` gives the seconds since the request began.
    """
    remaining = deadline - elapsed()
    if remaining <= 0.0:
        raise DeadlineExceeded(_deadline_message(deadline), request=request)
    clamp_timeouts(request, remaining)
    try:
        return transport.handle_request(request)
    except TIMEOUT_ERRORS as exc:
        if isinstance(exc, DeadlineExceeded) or elapsed() < deadline - _SLACK:
            raise
        raise DeadlineExceeded(_deadline_message(deadline), request=request) from exc


def drain_sync(response: httpx.Response) -> None:
    """`drain` for a synchronous response: read it if small, then close it."""
    try:
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) <= _DRAIN_LIMIT:
            chunks = iter(response.stream)  # type: ignore[arg-type]
            try:
                received = 0
                for chunk in chunks:
                    received += len(chunk)
                    if received > _DRAIN_LIMIT:  # longer than it said: give up on it
                        break
            finally:
                if isinstance(chunks, GeneratorType):
                    chunks.close()
    except Exception:  # the connection is discarded on close; nothing to save
        pass
    finally:
        response.close()


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
