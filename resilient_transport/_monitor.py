"""The monitor: a task that consumes events, calls callbacks and keeps results."""

from __future__ import annotations

import inspect
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Protocol

import anyio
import anyio.abc
import anyio.lowlevel

from ._events import AsyncEvent, EventType
from ._results import RequestResult

__all__ = ["EventCallback", "EventMonitor"]

logger = logging.getLogger("resilient_transport")


# Events handled back to back before the loop yields to other tasks, so that
# a flood of buffered events cannot starve the requests that produce them.
_BATCH = 128
# Seconds the loop lets events gather under steady traffic before taking
# them in one go: at most this much callback latency, against a task switch
# per event. Only with a buffer of _GATHER_MIN_BUFFER events or more, which a
# stream would need 256,000 events a second to fill in that time.
_GATHER = 0.001
_GATHER_MIN_BUFFER = 256
# Scheduler passes to wait for the loop to leave an ambiguous state.
_SPINS = 100

#: A callback: ``(event) -> None``, or ``async (event) -> None``.
EventCallback = Callable[[AsyncEvent], "Awaitable[Any] | Any"]


class _ReceiveStream(Protocol):  # what the monitor needs of anyio's memory stream
    def receive_nowait(self) -> AsyncEvent: ...  # pragma: no cover

    async def receive(self) -> AsyncEvent: ...  # pragma: no cover

    def statistics(self) -> Any: ...  # pragma: no cover

    async def aclose(self) -> None: ...  # pragma: no cover

    def close(self) -> None: ...  # pragma: no cover


class EventMonitor:
    """Consumes events (`AsyncEvent`): calls callbacks, keeps per-request results.

    Run it with ``async with monitor:`` (which starts its loop in a task and,
    on exit, processes every event already sent before stopping), or await
    :meth:`run` in a task group of your own (it returns once every send end is
    closed and every event is processed). With no task to run it in, call
    :meth:`process_queued` now and then instead.

    Callbacks run in the monitor's task, in event order. Under steady traffic
    (and with a stream buffer of 256 events or more) the loop lets events
    gather for up to a millisecond and takes them in one go, rather than
    switching tasks for every event: a callback may then run up to ~1 ms
    after its event. An idle stream is waited on as usual, and
    :meth:`wait_for_all_requests` cuts a pause short.

    Args:
        receive: The receive end of an anyio memory object stream. The
            monitor owns it and closes it when ``async with`` ends.
        max_results: Results kept (the most recent requests); older ones are
            forgotten, so memory stays flat however many requests pass.
            The default, 10,000, is enough to look up any recent request and
            small enough (a few MB) for a process serving millions.

    Raises:
        TypeError: ``receive`` is not a memory object receive stream, or
            ``max_results`` is not an int.
        ValueError: ``max_results`` is negative.
    """

    def __init__(self, receive: Any, *, max_results: int = 10_000) -> None:
        for method in ("receive", "receive_nowait", "statistics", "aclose", "close"):
            if not callable(getattr(receive, method, None)):
                raise TypeError(
                    f"receive must be an anyio memory object receive stream, got {receive!r}"
                )
        if isinstance(max_results, bool) or not isinstance(max_results, int):
            raise TypeError(f"max_results must be an int, got {max_results!r}")
        if max_results < 0:
            raise ValueError(f"max_results must be >= 0, got {max_results!r}")
        self._receive: _ReceiveStream = receive
        self._max_results = max_results
        self._results: OrderedDict[str, RequestResult] = OrderedDict()
        self._callbacks: dict[EventType | None, list[EventCallback]] = {}
        self._dispatch: dict[EventType, tuple[EventCallback, ...]] = dict.fromkeys(EventType, ())
        self._waiters: list[tuple[int, anyio.Event]] = []
        self._processed = 0
        self._callback_errors = 0
        self._started = False
        self._running = False
        self._finished = False
        self._in_receive = False
        self._processing = False
        self._task_group: anyio.abc.TaskGroup | None = None
        # The scope of the loop's pause to let events gather, while it lasts:
        # a waiter cancels it (cheaper than a timed wait on an event).
        self._pause: anyio.CancelScope | None = None
        # Held by the task processing events for a monitor with no loop (see
        # process_queued); None until the first call makes it loopless.
        self._loopless: anyio.Lock | None = None

    # -- configuration --------------------------------------------------------

    def add_event_callback(self, event_type: EventType | None, callback: EventCallback) -> None:
        """Call ``callback(event)`` for every event of ``event_type`` (``None``: every type).

        ``callback`` may be a plain function or a coroutine function; it runs
        in the monitor's task, in event order. If it raises, the error is
        logged on the ``resilient_transport`` logger and the monitor goes on.
        A slow callback slows only the monitor: when its stream fills up,
        transports drop events (and count them) rather than wait.
        """
        if event_type is not None and not isinstance(event_type, EventType):
            raise TypeError(f"event_type must be an EventType or None, got {event_type!r}")
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        self._callbacks.setdefault(event_type, []).append(callback)
        self._rebuild_dispatch()

    def remove_event_callback(self, event_type: EventType | None, callback: EventCallback) -> None:
        """Stop calling ``callback`` for ``event_type``; ``ValueError`` if it was not added."""
        try:
            self._callbacks.get(event_type, []).remove(callback)
        except ValueError:
            raise ValueError(f"{callback!r} is not registered for {event_type!r}") from None
        self._rebuild_dispatch()

    def _rebuild_dispatch(self) -> None:
        every = self._callbacks.get(None, [])
        self._dispatch = {t: (*self._callbacks.get(t, ()), *every) for t in EventType}

    # -- results --------------------------------------------------------------

    def get_result(self, request_id: str) -> RequestResult | None:
        """The result of a finished request, or ``None`` (unknown, unfinished or forgotten)."""
        return self._results.get(request_id)

    @property
    def results(self) -> dict[str, RequestResult]:
        """A snapshot of the kept results, oldest first."""
        return dict(self._results)

    @property
    def max_results(self) -> int:
        """How many results are kept at most."""
        return self._max_results

    @property
    def events_processed(self) -> int:
        """Events taken off the stream and processed so far."""
        return self._processed

    @property
    def callback_errors(self) -> int:
        """Exceptions raised by callbacks (each was logged)."""
        return self._callback_errors

    @property
    def running(self) -> bool:
        """Whether the consuming loop is running."""
        return self._running

    # -- the loop -------------------------------------------------------------

    async def run(self) -> None:
        """Consume events until every send end is closed and all events are processed.

        Raises:
            RuntimeError: The monitor was already started.
        """
        self._claim()
        await self._loop()

    def _claim(self) -> None:
        if self._started:
            raise RuntimeError("this EventMonitor has already been started")
        self._started = self._running = True

    async def _loop(self) -> None:
        receive = self._receive
        batch = 0
        # Events taken since the loop last found the stream empty.
        streak = 0
        # Only a roomy buffer may let events gather: a small one would fill
        # up and drop them.
        gather = receive.statistics().max_buffer_size >= _GATHER_MIN_BUFFER
        try:
            while True:
                try:
                    event = receive.receive_nowait()
                except anyio.WouldBlock:
                    if self._waiters:
                        # Nothing is buffered: every event sent before any
                        # waiter arrived has been processed.
                        self._wake_all()
                    if streak and gather:
                        # Under steady traffic, waking for every event (a
                        # task switch each) costs more than the event itself:
                        # let events gather for a moment and take them in one
                        # go. An idle stream is waited on as usual. A waiter
                        # cuts the pause short: it wants the events now.
                        streak = 0
                        with anyio.CancelScope() as self._pause:
                            await anyio.sleep(_GATHER)
                        self._pause = None
                        continue
                    streak = 0
                    self._in_receive = True
                    try:
                        event = await receive.receive()
                    finally:
                        self._in_receive = False
                    batch = 0
                else:
                    batch += 1
                    if batch >= _BATCH:
                        batch = 0
                        await anyio.lowlevel.checkpoint()
                streak += 1
                pending = self._process(event)
                if pending is not None:
                    await pending
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            pass
        finally:
            self._running = False
            self._finished = True
            self._wake_all()

    def _process(self, event: AsyncEvent) -> Awaitable[None] | None:
        """Run the callbacks for ``event`` in order, then record its result.

        Synchronous as long as the callbacks are, which saves a coroutine per
        event; from the first callback that returns an awaitable on, the rest
        is left to the coroutine returned, which the loop awaits.
        """
        self._processing = True
        callbacks = self._dispatch[event.event_type]
        for index, callback in enumerate(callbacks):
            try:
                outcome = callback(event)
            except Exception:
                self._callback_failed(callback, event)
                continue
            if outcome is not None and inspect.isawaitable(outcome):
                return self._process_rest(event, callbacks, index, outcome)
        self._record(event)
        return None

    async def _process_rest(
        self,
        event: AsyncEvent,
        callbacks: tuple[EventCallback, ...],
        index: int,
        outcome: Awaitable[Any],
    ) -> None:
        try:
            try:
                await outcome
            except Exception:
                self._callback_failed(callbacks[index], event)
            for callback in callbacks[index + 1 :]:
                try:
                    outcome = callback(event)
                    if inspect.isawaitable(outcome):
                        await outcome
                except Exception:
                    self._callback_failed(callback, event)
        finally:
            # Even if cancelled in a callback: the event was taken, keep its result.
            self._record(event)

    def _callback_failed(self, callback: EventCallback, event: AsyncEvent) -> None:
        """Count and log the exception being handled, which ``callback`` raised."""
        self._callback_errors += 1
        logger.exception(
            "event callback %r raised on a %s event for request %s",
            callback,
            event.event_type.value,
            event.context.request_id,
        )

    def _record(self, event: AsyncEvent) -> None:
        if event.event_type is not EventType.RETRY and self._max_results:
            results = self._results
            request_id = event.context.request_id
            if request_id in results:
                del results[request_id]
            results[request_id] = RequestResult.from_event(event)
            if len(results) > self._max_results:
                results.popitem(last=False)
        self._processed += 1
        self._processing = False
        if self._waiters:
            self._wake_waiters()

    def _wake_all(self) -> None:
        waiters, self._waiters = self._waiters, []
        for _, waiter in waiters:
            waiter.set()

    def _wake_waiters(self) -> None:
        processed = self._processed
        waiting = []
        for target, waiter in self._waiters:
            if processed >= target:
                waiter.set()
            else:
                waiting.append((target, waiter))
        self._waiters = waiting

    async def wait_for_all_requests(self) -> dict[str, RequestResult]:
        """Wait until every event sent before this call is processed; return the results.

        Returns at once if the loop has already finished. A monitor with no
        loop (see :meth:`process_queued`) processes what is queued itself,
        after any other task that is processing.

        Raises:
            RuntimeError: The monitor was never started.
        """
        if not self._started:
            raise RuntimeError(
                "the EventMonitor was never started: use `async with monitor:` or run()"
            )
        if self._loopless is not None:
            if not self._finished:
                async with self._loopless:  # after any other task's processing, in order
                    await self._process_queued()
            return dict(self._results)
        # Every event in the buffer is counted. One handed by a sender straight
        # to the loop's pending receive() is not in the buffer: that is the
        # case when the loop is inside receive() but no longer registered as a
        # waiting receiver. A loop that has entered receive() and not yet
        # registered looks the same for a moment, so look again once the loop
        # has run; under steady traffic, give up telling them apart (counting
        # one event too many only waits for the next event to arrive).
        spins = 0
        while not self._finished:
            stats = self._receive.statistics()
            handed = self._in_receive and stats.tasks_waiting_receive == 0
            if handed and spins < _SPINS:
                spins += 1
                await anyio.lowlevel.checkpoint()
                continue
            target = self._processed + stats.current_buffer_used + self._processing + handed
            if self._processed < target:
                waiter = anyio.Event()
                self._waiters.append((target, waiter))
                if self._pause is not None:
                    self._pause.cancel()
                await waiter.wait()
            break
        return dict(self._results)

    # -- without a loop -------------------------------------------------------

    async def process_queued(self) -> None:
        """Process the events queued now, in the calling task, for a monitor with no loop.

        For code with no task group to run the loop in (`AsyncResilientClient`
        used without ``async with`` calls it as each request ends): callbacks
        run in the calling task, in event order, and results are kept as the
        loop keeps them. The first call leaves the monitor without a loop for
        good (``async with`` and `run` then raise ``RuntimeError``), and
        `wait_for_all_requests` then processes what is queued itself.

        It never waits for another task: while another task is processing
        (an async callback is running), it returns at once and leaves the
        events to the next call. While the loop runs, it does nothing: the
        loop processes the events.
        """
        if not self._started:
            self._started = True
            self._loopless = anyio.Lock()
        lock = self._loopless
        if lock is None or self._finished:
            return
        try:
            lock.acquire_nowait()
        except anyio.WouldBlock:
            return
        try:
            await self._process_queued()
        finally:
            lock.release()

    async def _process_queued(self) -> None:
        """Process the events buffered now (not those sent meanwhile: no endless call)."""
        receive = self._receive
        try:
            for _ in range(receive.statistics().current_buffer_used):
                pending = self._process(receive.receive_nowait())
                if pending is not None:
                    await pending
        except anyio.ClosedResourceError:  # closed by its owner: nothing more to take
            pass

    async def _close_without_loop(self) -> None:
        """Close the receive end of a monitor that runs no loop (nothing else will).

        What is still queued is processed first, as by `process_queued`.
        """
        if not self._started:
            self._started = True
            self._loopless = anyio.Lock()
        if self._loopless is not None and not self._finished:
            try:
                async with self._loopless:
                    await self._process_queued()
            finally:
                self._finished = True
                self._receive.close()

    # -- as a context manager -------------------------------------------------

    async def __aenter__(self) -> EventMonitor:
        if self._started:
            raise RuntimeError("this EventMonitor has already been started")
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        await task_group.start(self._run_started)
        return self

    async def _run_started(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        self._claim()
        task_status.started()
        await self._loop()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        task_group, self._task_group = self._task_group, None
        assert task_group is not None
        try:
            if exc_type is None:
                await self.wait_for_all_requests()
        finally:
            task_group.cancel_scope.cancel()
            try:
                # The block's own exception is not handed to the task group:
                # it would come out wrapped in an ExceptionGroup, and a caller
                # catching httpx.ConnectError around `async with` would miss it.
                await task_group.__aexit__(None, None, None)
            finally:
                self._finished = True
                await self._receive.aclose()
        return None
