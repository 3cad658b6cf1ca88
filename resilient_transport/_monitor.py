"""The monitor: a task that consumes events, calls callbacks and keeps results.

It composes three parts: the callback dispatch (`_dispatch`), the bounded
result store, fed as a callback (`_store`), and the loop that drains the
stream and that waiters wait on (`_drain`). What is here is the lifecycle:
starting the loop (``async with``, `EventMonitor.run`), or processing without
one (`EventMonitor.process_queued`), and closing.
"""

from __future__ import annotations

from types import TracebackType

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream

from ._dispatch import Dispatcher, EventCallback
from ._drain import Drain
from ._events import AsyncEvent, EventType
from ._results import RequestResult
from ._store import ResultStore

__all__ = ["EventCallback", "EventMonitor"]


class EventMonitor:
    """Consumes events ([`AsyncEvent`][]): calls callbacks, keeps per-request results.

    Run it with ``async with monitor:`` (which starts its loop in a task and,
    on exit, processes every event already sent before stopping), or await
    [`run`][] in a task group of your own (it returns once every send end is
    closed and every event is processed). With no task to run it in, call
    [`process_queued`][] now and then instead.

    Callbacks run in the monitor's task, in event order. Under steady traffic
    (and with a stream buffer of 256 events or more) the loop lets events
    gather for up to a millisecond and takes them in one go, rather than
    switching tasks for every event: a callback may then run up to ~1 ms
    after its event. An idle stream is waited on as usual, and
    [`wait_for_all_requests`][] cuts a pause short.

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

    def __init__(
        self, receive: MemoryObjectReceiveStream[AsyncEvent], *, max_results: int = 10_000
    ) -> None:
        for method in ("receive", "receive_nowait", "statistics", "aclose", "close"):
            if not callable(getattr(receive, method, None)):
                raise TypeError(
                    f"receive must be an anyio memory object receive stream, got {receive!r}"
                )
        self._store = ResultStore(max_results)
        self._dispatcher = Dispatcher()
        for event_type in self._store.event_types:
            self._dispatcher.add_final(event_type, self._store.record)
        self._receive = receive
        self._drain = Drain(receive, self._dispatcher.dispatch)
        self._started = False
        self._running = False
        self._task_group: anyio.abc.TaskGroup | None = None
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
        self._dispatcher.add(event_type, callback)

    def remove_event_callback(self, event_type: EventType | None, callback: EventCallback) -> None:
        """Stop calling ``callback`` for ``event_type``; ``ValueError`` if it was not added."""
        self._dispatcher.remove(event_type, callback)

    # -- results --------------------------------------------------------------

    def get_result(self, request_id: str) -> RequestResult | None:
        """The result of a finished request, or ``None`` (unknown, unfinished or forgotten)."""
        return self._store.get(request_id)

    @property
    def results(self) -> dict[str, RequestResult]:
        """A snapshot of the kept results, oldest first."""
        return self._store.snapshot()

    @property
    def max_results(self) -> int:
        """How many results are kept at most."""
        return self._store.max_results

    @property
    def events_processed(self) -> int:
        """Events taken off the stream and processed so far."""
        return self._drain.processed

    @property
    def callback_errors(self) -> int:
        """Exceptions raised by callbacks (each was logged)."""
        return self._dispatcher.errors

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
        try:
            await self._drain.run()
        finally:
            self._running = False

    async def wait_for_all_requests(self) -> dict[str, RequestResult]:
        """Wait until every event sent before this call is processed; return the results.

        Returns at once if the loop has already finished. A monitor with no
        loop (see [`process_queued`][]) processes what is queued itself,
        after any other task that is processing.

        Raises:
            RuntimeError: The monitor was never started.
        """
        if not self._started:
            raise RuntimeError(
                "the EventMonitor was never started: use `async with monitor:` or run()"
            )
        if self._loopless is not None:
            if not self._drain.finished:
                async with self._loopless:  # after any other task's processing, in order
                    await self._drain.take_queued()
        else:
            await self._drain.wait()
        return self._store.snapshot()

    # -- without a loop -------------------------------------------------------

    async def process_queued(self) -> None:
        """Process the events queued now, in the calling task, for a monitor with no loop.

        For code with no task group to run the loop in
        ([`AsyncResilientClient`][resilient_transport.AsyncResilientClient] used
        without ``async with`` calls it as each request ends): callbacks
        run in the calling task, in event order, and results are kept as the
        loop keeps them. The first call leaves the monitor without a loop for
        good (``async with`` and [`run`][] then raise ``RuntimeError``), and
        [`wait_for_all_requests`][] then processes what is queued itself.

        It never waits for another task: while another task is processing
        (an async callback is running), it returns at once and leaves the
        events to the next call. While the loop runs, it does nothing: the
        loop processes the events.
        """
        if not self._started:
            self._started = True
            self._loopless = anyio.Lock()
        lock = self._loopless
        if lock is None or self._drain.finished:
            return
        try:
            lock.acquire_nowait()
        except anyio.WouldBlock:
            return
        try:
            await self._drain.take_queued()
        finally:
            lock.release()

    async def close_without_loop(self) -> None:
        """Process what is queued, then close the receive end, for a monitor with no loop.

        The end of [`process_queued`][]'s way of running (nothing else would close
        the stream). A monitor never started becomes one with no loop and is
        closed at once; one whose loop runs is left to its loop.
        """
        if not self._started:
            self._started = True
            self._loopless = anyio.Lock()
        if self._loopless is not None and not self._drain.finished:
            try:
                async with self._loopless:
                    await self._drain.take_queued()
            finally:
                self._drain.finish()
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
                self._drain.finish()
                await self._receive.aclose()
        return None
