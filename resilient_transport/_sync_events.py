"""`EventQueue`: the thread-safe event stream of synchronous code."""

from __future__ import annotations

import collections
import math
import threading
from types import TracebackType

import anyio

from ._events import AsyncEvent

__all__ = ["EventQueue"]


class _Channel:
    """The state every send end of one queue shares."""

    __slots__ = ("condition", "events", "max_size", "open_ends", "sent", "wakeups")

    def __init__(self, max_size: float) -> None:
        self.condition = threading.Condition(threading.Lock())
        self.events: collections.deque[AsyncEvent] = collections.deque()
        self.max_size = max_size
        self.open_ends = 1
        self.sent = 0
        self.wakeups = 0


class EventQueue:
    """A bounded, thread-safe queue of events, from transports to a monitor, for sync code.

    The synchronous twin of an anyio memory object stream: give it to a
    [`RetryingTransport`][resilient_transport.RetryingTransport] as
    ``events=`` and to a [`SyncEventMonitor`][resilient_transport.SyncEventMonitor].
    Sending never waits for a reader: an event that does not fit is refused
    at once (the transport drops it and counts it in ``dropped_events``),
    so a slow monitor never slows a request. Any number of threads may send
    at once.

    The object is a send end. A transport owns the one it is given and
    closes it when it is closed; several transports feeding one monitor each
    get their own end from [`clone`][]. The queue ends (a monitor's
    [`run`][resilient_transport.SyncEventMonitor.run] returns) once every
    send end is closed and every event is taken.

    Args:
        max_size: Events held at most (``math.inf``: unbounded).

    Raises:
        TypeError: ``max_size`` is not a number.
        ValueError: ``max_size`` is not >= 1 (an int, or ``math.inf``).
    """

    __slots__ = ("_channel", "_closed")

    def __init__(self, max_size: float = 1000) -> None:
        if isinstance(max_size, bool) or not isinstance(max_size, (int, float)):
            raise TypeError(f"max_size must be an int or math.inf, got {max_size!r}")
        if not (max_size == math.inf or (float(max_size).is_integer() and max_size >= 1)):
            raise ValueError(f"max_size must be an int >= 1 or math.inf, got {max_size!r}")
        self._channel = _Channel(max_size)
        self._closed = False

    @classmethod
    def _sharing(cls, channel: _Channel) -> EventQueue:
        """A new open send end of ``channel``."""
        end = cls.__new__(cls)
        object.__setattr__(end, "_channel", channel)
        object.__setattr__(end, "_closed", False)
        return end

    # -- sending --------------------------------------------------------------

    def send_nowait(self, event: AsyncEvent) -> None:
        """Add ``event``; never waits.

        Raises:
            anyio.WouldBlock: The queue is full (the event is not added).
            anyio.ClosedResourceError: This send end is closed.
        """
        if self._closed:
            raise anyio.ClosedResourceError
        channel = self._channel
        with channel.condition:
            if len(channel.events) >= channel.max_size:
                raise anyio.WouldBlock
            channel.events.append(event)
            channel.sent += 1
            channel.condition.notify()

    def clone(self) -> EventQueue:
        """Another send end of the same queue (for another transport).

        Raises:
            anyio.ClosedResourceError: This send end is closed.
        """
        if self._closed:
            raise anyio.ClosedResourceError
        channel = self._channel
        with channel.condition:
            channel.open_ends += 1
        return self._sharing(channel)

    def close(self) -> None:
        """Close this send end (again: nothing); the events already sent stay to be taken."""
        channel = self._channel
        with channel.condition:
            if self._closed:
                return
            self._closed = True
            channel.open_ends -= 1
            channel.condition.notify_all()

    @property
    def closed(self) -> bool:
        """Whether this send end is closed."""
        return self._closed

    # -- receiving ------------------------------------------------------------

    @property
    def max_size(self) -> float:
        """Events held at most."""
        return self._channel.max_size

    @property
    def sent(self) -> int:
        """Events added so far, through every send end (refused ones not counted)."""
        return self._channel.sent

    @property
    def finished(self) -> bool:
        """Whether every send end is closed and every event taken."""
        channel = self._channel
        return not channel.open_ends and not channel.events

    def qsize(self) -> int:
        """Events waiting to be taken."""
        return len(self._channel.events)

    def receive(self, timeout: float | None = None) -> AsyncEvent | None:
        """Take the oldest event, waiting up to ``timeout`` seconds (``None``: no limit).

        Returns ``None`` when the wait times out, when the queue is
        `finished`, or when [`wake`][] is called while it waits.
        """
        channel = self._channel
        with channel.condition:
            while not channel.events:
                if channel.wakeups:
                    channel.wakeups -= 1
                    return None
                if not channel.open_ends:
                    return None
                if not channel.condition.wait(timeout):
                    return None
            return channel.events.popleft()

    def receive_nowait(self) -> AsyncEvent | None:
        """Take the oldest event, or ``None`` if there is none."""
        try:
            return self._channel.events.popleft()  # deque.popleft is atomic
        except IndexError:
            return None

    def wake(self) -> None:
        """Make one `receive` that finds no event return ``None`` (to stop a reader)."""
        channel = self._channel
        with channel.condition:
            channel.wakeups += 1
            channel.condition.notify_all()

    # -- as a context manager -------------------------------------------------

    def __enter__(self) -> EventQueue:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"EventQueue(max_size={self.max_size!r}, queued={self.qsize()}, closed={self._closed})"
        )
