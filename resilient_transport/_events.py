"""Events: what happened to a request, sent without ever waiting."""

from __future__ import annotations

import dataclasses
import enum
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import anyio

from ._classify import TIMEOUT_ERRORS
from ._context import RequestContext, no_metadata
from ._decision import GiveUpReason
from ._records import trusted
from ._redact import event_url
from ._stack import httpx

__all__ = ["AsyncEvent", "Emitter", "EventType", "terminal_event_type"]

logger = logging.getLogger("resilient_transport")


class EventType(str, enum.Enum):
    """What an [`AsyncEvent`][] reports."""

    SUCCESS = "success"
    """Terminal: an HTTP response came back (any status)."""
    RETRY = "retry"
    """An attempt failed and another one will be made after ``delay`` seconds."""
    ERROR = "error"
    """Terminal: retries exhausted or refused, or an error that is not retried."""
    TIMEOUT = "timeout"
    """Terminal: a timeout (``httpx.TimeoutException`` or httpcore's) ended the request."""
    CANCELLED = "cancelled"
    """Terminal: the request was cancelled, during an attempt or a backoff sleep."""
    HEDGE = "hedge"
    """A hedge was sent: one more attempt of a hedged request, the others still running."""

    # The hash of the value, which the member equals (``EventType.SUCCESS ==
    # "success"``), computed in C; Enum's own hashes the name in Python, on
    # every dict lookup of every event.
    __hash__ = str.__hash__

    @property
    def is_terminal(self) -> bool:
        """Whether this is the last event of its request."""
        return self not in _NOT_TERMINAL


@dataclasses.dataclass(frozen=True, slots=True)
class AsyncEvent:
    """One thing that happened to one request; immutable.

    Events never carry a header value or a body, and the URL is stripped of
    any ``user:password``.

    Attributes:
        event_type: What happened.
        context: The request's [`RequestContext`][] at that moment; its
            ``current_attempt`` counts the failed attempts so far.
        timestamp: Wall-clock time of the event (``time.time()``).
        data: Extra read-only data (empty unless an integration adds some).
        error: The exception that caused a [`RETRY`][EventType.RETRY] or ended the
            request; on a [`HEDGE`][EventType.HEDGE] sent at once, the failure that let it go.
        method: The request's HTTP method.
        url: The request's URL without credentials.
        attempts: Attempts sent so far, the one in flight included.
        elapsed: Seconds since the first attempt started.
        status_code: The response status, on [`SUCCESS`][EventType.SUCCESS] and on
            a [`RETRY`][EventType.RETRY] caused by a retried status (or a
            [`HEDGE`][EventType.HEDGE] sent at once after one).
        delay: On [`RETRY`][EventType.RETRY], the seconds slept before the next attempt;
            on [`HEDGE`][EventType.HEDGE], the seconds waited for it (0: sent at once).
        reason: On a terminal event, why the request was not retried (again);
            ``None`` when nothing was refused (a first-time success).
    """

    event_type: EventType
    context: RequestContext
    timestamp: float
    data: Mapping[str, Any] = dataclasses.field(default_factory=no_metadata)
    error: BaseException | None = None
    method: str = ""
    url: str = ""
    attempts: int = 1
    elapsed: float = 0.0
    status_code: int | None = None
    delay: float | None = None
    reason: GiveUpReason | None = None

    @property
    def request_id(self) -> str:
        """The request's id (``context.request_id``)."""
        return self.context.request_id

    @property
    def is_terminal(self) -> bool:
        """Whether this is the last event of its request."""
        return self.event_type not in _NOT_TERMINAL


#: The event types that a request may send any number of before its one terminal event.
_NOT_TERMINAL = frozenset({EventType.RETRY, EventType.HEDGE})

#: Builds an event from trusted values (see `_records`), cheaper than the
#: frozen dataclass ``__init__``, on every request that has events.
_RECORD = trusted(AsyncEvent)
_NO_DATA = no_metadata()


class Emitter:
    """Builds a transport's events and sends them without ever waiting or raising.

    It owns the send end it was given (`aclose` closes an async one, `close`
    a synchronous one) and the clock that times the requests. A full stream
    drops the event and counts it; a closed or broken stream stops emission
    for good. Anything else a stream raises is counted as a drop and logged
    once per emitter: observability never fails a request. One emitter may
    serve many threads at once (`RetryingTransport`): a drop is counted under
    a lock, taken on that path only.
    """

    __slots__ = ("_clock", "_lock", "_owned", "_stream", "_warned", "active", "dropped")

    def __init__(
        self, stream: object, clock: Callable[[], float], *, synchronous: bool = False
    ) -> None:
        closer = "close" if synchronous else "aclose"
        if stream is not None and not (
            callable(getattr(stream, "send_nowait", None))
            and callable(getattr(stream, closer, None))
        ):
            kind = (
                "a resilient_transport.EventQueue"
                if synchronous
                else ("an anyio memory object send stream")
            )
            raise TypeError(
                f"events must be {kind} (with send_nowait() and {closer}()) or None, "
                f"got {stream!r}"
            )
        self._clock = clock
        self._owned: _SendNowait | None = stream  # type: ignore[assignment]
        self._stream: _SendNowait | None = self._owned
        #: Whether events are still being sent (an attribute: read per request).
        self.active = stream is not None
        self._warned = False
        self._lock = threading.Lock()
        #: Events dropped because the stream was full (or failed).
        self.dropped = 0

    def emit(
        self,
        event_type: EventType,
        context: RequestContext,
        request: httpx.Request,
        start: float,
        *,
        attempts: int,
        error: BaseException | None = None,
        status_code: int | None = None,
        delay: float | None = None,
        reason: GiveUpReason | None = None,
    ) -> None:
        """Build and send one event of ``request`` (begun at ``start`` on the clock)."""
        stream = self._stream
        if stream is None:
            return
        try:
            # AsyncEvent's fields in order, positional: no keywords to match.
            event = _RECORD.build(
                event_type,
                context,
                time.time(),  # timestamp
                _NO_DATA,  # data
                error,
                request.method,
                event_url(request.url),
                attempts,
                self._clock() - start,  # elapsed
                status_code,
                delay,
                reason,
            )
            stream.send_nowait(event)
        except anyio.WouldBlock:
            self._drop()
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._stop()
        except Exception:  # observability must never fail a request
            self._failed(stream)

    def _drop(self) -> None:
        with self._lock:  # exact when many threads emit at once
            self.dropped += 1

    def _stop(self) -> None:
        self._stream = None
        self.active = False

    def _failed(self, stream: object) -> None:
        """Count a drop; log the first failure (of the stream, or of building the event)."""
        self._drop()
        if not self._warned:
            self._warned = True
            logger.exception("event stream %r failed; events are being dropped", stream)

    async def aclose(self) -> None:
        """Close the send end this emitter owns."""
        stream, self._owned = self._owned, None
        self._stop()
        if stream is not None:
            await stream.aclose()

    def close(self) -> None:
        """Close the synchronous send end this emitter owns."""
        stream, self._owned = self._owned, None
        self._stop()
        if stream is not None:
            stream.close()


class _SendNowait(Protocol):
    def send_nowait(self, item: AsyncEvent, /) -> None: ...  # pragma: no cover

    async def aclose(self) -> None: ...  # pragma: no cover

    def close(self) -> None: ...  # pragma: no cover


def terminal_event_type(error: BaseException, reason: GiveUpReason | None) -> EventType:
    """The terminal event of a request that ``error`` ended, given up for ``reason``.

    The policy alone knows what "cancelled" means where the request ran (see
    `RetryPolicy`): its reason says so, with no event loop needed here.
    """
    if reason is GiveUpReason.CANCELLED:
        return EventType.CANCELLED
    if isinstance(error, TIMEOUT_ERRORS):
        return EventType.TIMEOUT
    return EventType.ERROR
