"""`EventRecorder` of `resilient_transport.testing`: a transport's events in a list.

Re-exported by `resilient_transport.testing`, which is where users import it.
"""

from __future__ import annotations

import math
from types import TracebackType

import anyio

from ._events import AsyncEvent, EventType
from ._sync_events import EventQueue

__all__ = ["EventRecorder"]


class EventRecorder:
    """Receives a transport's events in a list, with no monitor running.

    Give `send` to a `RetryingAsyncTransport` as ``events=``, or `queue` to
    a `RetryingTransport`; read `events`. Both are unbounded, so nothing is
    dropped. Close the recorder (``with EventRecorder() as recorder:``) when
    done; a transport closes its send end when it is closed.
    """

    def __init__(self) -> None:
        self.send, self._receive = anyio.create_memory_object_stream[AsyncEvent](math.inf)
        #: The synchronous transport's sink: an unbounded `EventQueue`.
        self.queue = EventQueue(math.inf)
        self._events: list[AsyncEvent] = []

    @property
    def events(self) -> list[AsyncEvent]:
        """Every event received so far, in order (from `send`, then from `queue`)."""
        while True:
            try:
                self._events.append(self._receive.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                break
        while (event := self.queue.receive_nowait()) is not None:
            self._events.append(event)
        return list(self._events)

    def types(self, request_id: str | None = None) -> list[EventType]:
        """The event types received (for one request, if given), in order."""
        return [e.event_type for e in self.events if request_id in (None, e.request_id)]

    def __call__(self, event: AsyncEvent) -> None:
        """Record ``event``: an `EventRecorder` is also a monitor callback."""
        self._events.append(event)

    def close(self) -> None:
        """Close both ends of the stream."""
        self.events  # noqa: B018 - keep what was sent before closing
        self.send.close()
        self._receive.close()
        self.queue.close()

    def __enter__(self) -> EventRecorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
