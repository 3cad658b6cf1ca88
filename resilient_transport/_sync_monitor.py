"""`SyncEventMonitor`: callbacks and per-request results for synchronous code.

The same parts as `EventMonitor` (the callback `Dispatcher`, the bounded
`ResultStore`), fed from an `EventQueue` by a thread the monitor owns, or
on demand in the calling thread.
"""

from __future__ import annotations

import inspect
import threading
from types import TracebackType

from ._dispatch import Dispatcher, EventCallback
from ._events import AsyncEvent, EventType
from ._results import RequestResult
from ._store import ResultStore
from ._sync_events import EventQueue

__all__ = ["SyncEventMonitor"]


class _Synchronous:
    """A callback that must not return an awaitable (no loop would run it).

    Equal to the callback it wraps, so that removing the callback finds it.
    """

    __slots__ = ("callback",)

    def __init__(self, callback: EventCallback) -> None:
        self.callback = callback

    def __call__(self, event: AsyncEvent) -> None:
        outcome = self.callback(event)
        if inspect.isawaitable(outcome):
            getattr(outcome, "close", lambda: None)()  # a coroutine: no "never awaited" warning
            raise TypeError(
                f"{self.callback!r} returned an awaitable: a SyncEventMonitor has no event "
                "loop to run it; give it a plain function"
            )

    def __eq__(self, other: object) -> bool:
        # list.remove(callback) compares each registered wrapper to the callback.
        return bool(self.callback == other)

    __hash__ = None  # type: ignore[assignment]


class SyncEventMonitor:
    """Consumes an [`EventQueue`][]: calls callbacks, keeps per-request results.

    The synchronous twin of [`EventMonitor`][], with the same callbacks
    (plain functions; the logging, OpenTelemetry and Prometheus
    integrations plug in with their ``instrument(monitor)``) and the same
    [`RequestResult`][] per request. Either ``with monitor:`` (or
    [`start`][]) runs it in a daemon thread it owns, and leaving the block
    ([`close`][]) processes every event already sent, then stops the thread;
    or, with no thread, [`process_queued`][] and [`wait_for_all_requests`][]
    process the queued events in the calling thread. Callbacks run one at a
    time, in event order, never in a thread that sends a request.

    Args:
        events: The queue the transports send to. The monitor does not close
            it (the transports own their send ends).
        max_results: Results kept (the most recent requests); 10,000 by
            default, as for [`EventMonitor`][].

    Raises:
        TypeError: ``events`` is not an [`EventQueue`][], or ``max_results``
            is not an int.
        ValueError: ``max_results`` is negative.
    """

    def __init__(self, events: EventQueue, *, max_results: int = 10_000) -> None:
        if not isinstance(events, EventQueue):
            raise TypeError(f"events must be a resilient_transport.EventQueue, got {events!r}")
        self._queue = events
        self._store = ResultStore(max_results)
        self._dispatcher = Dispatcher()
        # Results are read from any thread while the monitor's thread keeps them.
        self._results_lock = threading.Lock()
        for event_type in self._store.event_types:
            self._dispatcher.add_final(event_type, self._record)
        # One consumer at a time, in order; re-entrant for a callback that
        # calls process_queued.
        self._consumer = threading.RLock()
        self._processed = threading.Condition(threading.Lock())
        self._count = 0
        self._thread: threading.Thread | None = None
        # The thread inside run(), whichever it is (the monitor's own or a caller's).
        self._looping: threading.Thread | None = None
        self._stopping = False

    # -- configuration and results ---------------------------------------------

    def add_event_callback(self, event_type: EventType | None, callback: EventCallback) -> None:
        """Call ``callback(event)`` for every event of ``event_type`` (``None``: every type).

        If it raises, the error is logged on the ``resilient_transport``
        logger and counted, and the monitor goes on.

        Raises:
            TypeError: ``callback`` is a coroutine function (no loop would run it),
                or not callable.
        """
        if inspect.iscoroutinefunction(callback) or inspect.iscoroutinefunction(
            getattr(callback, "__call__", None)  # noqa: B004 - a callable object's method
        ):
            raise TypeError(
                f"a SyncEventMonitor callback must be a plain function, got {callback!r}"
            )
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        self._dispatcher.add(event_type, _Synchronous(callback))

    def remove_event_callback(self, event_type: EventType | None, callback: EventCallback) -> None:
        """Stop calling ``callback`` for ``event_type``; ``ValueError`` if it was not added."""
        self._dispatcher.remove(event_type, callback)

    def _record(self, event: AsyncEvent) -> None:
        with self._results_lock:
            self._store.record(event)

    def get_result(self, request_id: str) -> RequestResult | None:
        """The result of a finished request, or ``None`` (unknown, unfinished or forgotten)."""
        with self._results_lock:
            return self._store.get(request_id)

    @property
    def results(self) -> dict[str, RequestResult]:
        """A snapshot of the kept results, oldest first."""
        with self._results_lock:
            return self._store.snapshot()

    @property
    def max_results(self) -> int:
        """How many results are kept at most."""
        return self._store.max_results

    @property
    def events_processed(self) -> int:
        """Events taken off the queue and processed so far."""
        return self._count

    @property
    def callback_errors(self) -> int:
        """Exceptions raised by callbacks (each was logged)."""
        return self._dispatcher.errors

    @property
    def running(self) -> bool:
        """Whether the monitor's loop ([`run`][], in its thread or a caller's) is running."""
        return self._looping is not None

    # -- processing -----------------------------------------------------------

    def _handle(self, event: AsyncEvent) -> None:
        # Every callback is _Synchronous: dispatch never returns an awaitable.
        self._dispatcher.dispatch(event)
        with self._processed:
            self._count += 1
            self._processed.notify_all()

    def process_queued(self) -> int:
        """Process the events queued now, in the calling thread; return how many.

        Does nothing (returns 0) while the monitor's thread runs: it
        processes them. Waits for another thread that is processing.
        """
        if self.running:
            return 0
        handled = 0
        with self._consumer:
            while (event := self._queue.receive_nowait()) is not None:
                self._handle(event)
                handled += 1
        return handled

    def wait_for_all_requests(self, timeout: float | None = None) -> dict[str, RequestResult]:
        """Wait until every event sent before this call is processed; return the results.

        With the monitor's thread running, waits for it (up to ``timeout``
        seconds, ``None``: no limit); without, processes the queued events
        in the calling thread.
        """
        target = self._queue.sent
        looping = self._looping
        if looping is not None and looping is not threading.current_thread():
            with self._processed:
                self._processed.wait_for(
                    lambda: self._count >= target or self._looping is None, timeout
                )
        if self._looping is None:
            self.process_queued()
        return self.results

    def run(self) -> None:
        """Process events in the calling thread until the queue is finished.

        It is finished when every send end is closed (the transports are
        closed) and every event is processed; [`close`][] from another
        thread also ends it, once the events already sent are processed.
        """
        queue = self._queue
        with self._consumer:
            self._looping = threading.current_thread()
            try:
                # None: the queue is finished, or close() woke the loop (once
                # the events sent before it were taken).
                while (event := queue.receive()) is not None:
                    self._handle(event)
            finally:
                self._looping = None
                with self._processed:
                    self._processed.notify_all()

    # -- the thread -----------------------------------------------------------

    def start(self) -> None:
        """Run the monitor in a daemon thread of its own (what ``with monitor:`` does).

        Raises:
            RuntimeError: It was already started, or closed.
        """
        if self._thread is not None or self._stopping:
            raise RuntimeError("this SyncEventMonitor has already been started")
        thread = threading.Thread(target=self.run, name="resilient_transport-monitor", daemon=True)
        # Running from now on: a waiter waits for the thread, even before it is scheduled.
        self._thread = self._looping = thread
        thread.start()

    def close(self) -> None:
        """Process every event already sent, then stop the thread (it does not wait for senders).

        Without a thread, processes the queued events. Closing again does nothing.
        """
        self._stopping = True
        if self._looping is not None:
            self._queue.wake()  # the loop returns once the events sent are processed
        thread = self._thread
        if thread is not None:
            thread.join()
        self.process_queued()

    def __enter__(self) -> SyncEventMonitor:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SyncEventMonitor({self._queue!r}, running={self.running})"
