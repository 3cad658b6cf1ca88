"""Draining the event stream: the loop that takes events in order, and waiting on it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectReceiveStream

from ._events import AsyncEvent

__all__ = ["Drain"]


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


class Drain:
    """Takes events off a stream in order, hands each to ``process`` and counts them.

    ``process(event)`` handles an event synchronously and returns ``None``, or
    returns an awaitable that finishes handling it. An event counts as
    processed once that is done (or cancelled). `wait` returns once every
    event sent before it was called is processed.
    """

    def __init__(
        self,
        receive: MemoryObjectReceiveStream[AsyncEvent],
        process: Callable[[AsyncEvent], Awaitable[None] | None],
    ) -> None:
        self._receive = receive
        self._process = process
        self._processed = 0
        self._finished = False
        # Waiters for the count of processed events to reach a target.
        self._waiters: list[tuple[int, anyio.Event]] = []
        # Whether the loop is inside receive(), and whether an event taken off
        # the stream is being processed across an await.
        self._in_receive = False
        self._processing = False
        # The scope of the loop's pause to let events gather, while it lasts:
        # a waiter cancels it (cheaper than a timed wait on an event).
        self._pause: anyio.CancelScope | None = None

    @property
    def processed(self) -> int:
        """Events taken off the stream and processed so far."""
        return self._processed

    @property
    def finished(self) -> bool:
        """Whether no more events will be taken: `wait` returns at once."""
        return self._finished

    def finish(self) -> None:
        """Take no more events; release every waiter."""
        self._finished = True
        self._wake_all()

    async def run(self) -> None:
        """Take and process events until the stream ends or is closed; then `finish`."""
        receive = self._receive
        process = self._process
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
                streak += 1
                pending = process(event)
                if pending is None:  # the hot path: _count() inlined
                    self._processed += 1
                    if self._waiters:
                        self._wake_waiters()
                    if batch >= _BATCH:
                        # Yield between events, never holding one taken but
                        # not yet counted: a waiter arriving now must see it.
                        batch = 0
                        await anyio.lowlevel.checkpoint()
                    continue
                # Processing goes on across an await (inline, not in a
                # coroutine of its own: one per event with async callbacks).
                self._processing = True
                try:
                    await pending
                finally:
                    # Counted even if cancelled: the event was taken.
                    self._processing = False
                    self._count()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            pass
        finally:
            self.finish()

    async def take_queued(self) -> None:
        """Process the events buffered now (not those sent meanwhile: no endless call)."""
        receive = self._receive
        process = self._process
        try:
            for _ in range(receive.statistics().current_buffer_used):
                pending = process(receive.receive_nowait())
                if pending is not None:
                    self._processing = True
                    try:
                        await pending
                    finally:
                        self._processing = False
                        self._count()
                else:
                    self._count()
        except anyio.ClosedResourceError:  # closed by its owner: nothing more to take
            pass

    def _count(self) -> None:
        """Count an event as processed; wake the waiters it was the last for."""
        self._processed += 1
        if self._waiters:
            self._wake_waiters()

    async def wait(self) -> None:
        """Wait until every event sent before this call is processed, or the loop ends."""
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
