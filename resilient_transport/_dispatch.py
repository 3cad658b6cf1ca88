"""Callback dispatch: the callbacks registered per event type, called in order."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable

# typing's Callable, not collections.abc's: the package re-exports EventCallback
# and sets __module__ on its public names, which only typing's alias allows.
from typing import Any, Callable  # noqa: UP035

from ._events import AsyncEvent, EventType

__all__ = ["Dispatcher", "EventCallback"]

logger = logging.getLogger("resilient_transport")

EventCallback = Callable[[AsyncEvent], Awaitable[Any] | Any]
"""A monitor callback: ``(event) -> None``, or ``async (event) -> None``.

What it returns is ignored (awaited first, if it is awaitable). See
[`EventMonitor.add_event_callback`][resilient_transport.EventMonitor.add_event_callback].
"""


class Dispatcher:
    """Calls the callbacks registered for an event's type, in order.

    For an event, the callbacks registered for its type run first, then those
    registered for every type (``None``), then the final ones (`add_final`). A
    callback that raises is counted and logged, and the next one runs.
    """

    def __init__(self) -> None:
        self._callbacks: dict[EventType | None, list[EventCallback]] = {}
        self._final: dict[EventType, list[Callable[[AsyncEvent], None]]] = {}
        # What an event of each type calls, in order: rebuilt on every change,
        # so that dispatching an event is one lookup.
        self._table: dict[EventType, tuple[EventCallback, ...]] = dict.fromkeys(EventType, ())
        self._errors = 0

    @property
    def errors(self) -> int:
        """Exceptions raised by callbacks (each was logged)."""
        return self._errors

    def add(self, event_type: EventType | None, callback: EventCallback) -> None:
        """Call ``callback(event)`` for every event of ``event_type`` (``None``: every type)."""
        if event_type is not None and not isinstance(event_type, EventType):
            raise TypeError(f"event_type must be an EventType or None, got {event_type!r}")
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        self._callbacks.setdefault(event_type, []).append(callback)
        self._rebuild()

    def remove(self, event_type: EventType | None, callback: EventCallback) -> None:
        """Stop calling ``callback`` for ``event_type``; ``ValueError`` if it was not added."""
        try:
            self._callbacks.get(event_type, []).remove(callback)
        except ValueError:
            raise ValueError(f"{callback!r} is not registered for {event_type!r}") from None
        self._rebuild()

    def add_final(self, event_type: EventType, callback: Callable[[AsyncEvent], None]) -> None:
        """Call the synchronous ``callback(event)`` last for every event of ``event_type``.

        It runs after every other callback of the event, even when one of
        them was cancelled: the event was taken off the stream all the same.
        """
        self._final.setdefault(event_type, []).append(callback)
        self._rebuild()

    def _rebuild(self) -> None:
        every = self._callbacks.get(None, [])
        self._table = {
            t: (*self._callbacks.get(t, ()), *every, *self._final.get(t, ())) for t in EventType
        }

    def dispatch(self, event: AsyncEvent) -> Awaitable[None] | None:
        """Run the callbacks for ``event`` in order.

        Synchronous as long as the callbacks are, which saves a coroutine per
        event; from the first callback that returns an awaitable on, the rest
        is left to the coroutine returned, which the caller awaits.
        """
        callbacks = self._table[event.event_type]
        for index, callback in enumerate(callbacks):
            try:
                outcome = callback(event)
            except Exception:
                self._failed(callback, event)
                continue
            if outcome is not None and inspect.isawaitable(outcome):
                return self._dispatch_rest(event, callbacks, index, outcome)
        return None

    async def _dispatch_rest(
        self,
        event: AsyncEvent,
        callbacks: tuple[EventCallback, ...],
        index: int,
        outcome: Awaitable[Any],
    ) -> None:
        completed = False
        try:
            try:
                await outcome
            except Exception:
                self._failed(callbacks[index], event)
            for callback in callbacks[index + 1 :]:
                try:
                    outcome = callback(event)
                    if outcome is not None and inspect.isawaitable(outcome):
                        await outcome
                except Exception:
                    self._failed(callback, event)
            completed = True
        finally:
            if not completed:
                # Cancelled in a callback: the final ones, after it, still run.
                for final in self._final.get(event.event_type, ()):
                    final(event)

    def _failed(self, callback: EventCallback, event: AsyncEvent) -> None:
        """Count and log the exception being handled, which ``callback`` raised."""
        self._errors += 1
        logger.exception(
            "event callback %r raised on a %s event for request %s",
            callback,
            event.event_type.value,
            event.context.request_id,
        )
