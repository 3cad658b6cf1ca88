"""Structured stdlib ``logging`` of every retry and every outcome.

One line plugs it into a monitor or a resilient client:

```python
from resilient_transport.integrations.logs import instrument

instrument(client)  # every event becomes a log record
```

Each record carries the event's fields in ``extra`` (so a JSON formatter, or
``%(request_id)s`` in a format string, sees them as attributes of the record):

- ``request_id``: the request's id;
- ``event``: ``"retry"``, ``"hedge"``, ``"success"``, ``"error"``, ``"timeout"`` or
  ``"cancelled"``;
- ``attempt``: attempts sent so far (1 for the first);
- ``max_retries``: the request's retry limit;
- ``method``: the HTTP method;
- ``url``: the URL, without any ``user:password`` and with secret query
  values redacted (see [`resilient_transport.redact_url`][]);
- ``elapsed``: seconds since the first attempt began;
- ``delay``: on a retry, seconds before the next attempt, else ``None``;
- ``status_code``: the response status if there is one, else ``None``;
- ``reason``: why the request was not retried (again), if so, else ``None``;
- ``error_type``: the exception's class (``"httpx.ConnectError"``) or an
  error status (``"503"``), else ``None``.

No header value and no body is ever logged. Needs no extra dependency.

A [`CircuitBreaker`][resilient_transport.CircuitBreaker]'s transitions are
logged with ``attach_breaker(breaker)``: one record per change of state (a
warning when a circuit opens), with ``origin``, ``circuit_state``,
``previous_state``, ``circuit_reason`` and ``retry_at`` in ``extra``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from resilient_transport._events import AsyncEvent, EventType
from resilient_transport.integrations._common import EventTarget, attach, error_text, error_type
from resilient_transport.integrations._logs_breaker import BreakerLogger, attach_breaker

__all__ = [
    "DEFAULT_LEVELS",
    "DEFAULT_LOGGER",
    "BreakerLogger",
    "EventLogger",
    "attach_breaker",
    "event_fields",
    "instrument",
]

#: The logger used unless another is given: a child of the library's own
#: ``resilient_transport`` logger, so it can be tuned on its own.
DEFAULT_LOGGER = "resilient_transport.events"
# (The breaker's logger, in _logs_breaker, defaults to the same name.)

#: The level of each event type: a retry or a failure is worth a warning;
#: a success or a cancellation (a caller that stopped waiting) is not.
DEFAULT_LEVELS: Mapping[EventType, int] = MappingProxyType(
    {
        EventType.SUCCESS: logging.INFO,
        EventType.RETRY: logging.WARNING,
        EventType.ERROR: logging.WARNING,
        EventType.TIMEOUT: logging.WARNING,
        EventType.CANCELLED: logging.INFO,
        EventType.HEDGE: logging.INFO,
    }
)


def event_fields(event: AsyncEvent) -> dict[str, Any]:
    """Return the structured fields of ``event``: what a record carries in ``extra``."""
    return {
        "request_id": event.context.request_id,
        "event": event.event_type.value,
        "attempt": event.attempts,
        "max_retries": event.context.max_retries,
        "method": event.method,
        "url": event.url,
        "elapsed": event.elapsed,
        "delay": event.delay,
        "status_code": event.status_code,
        "reason": None if event.reason is None else event.reason.value,
        "error_type": error_type(event),
    }


def _cause(event: AsyncEvent, kind: str | None) -> str:
    if event.error is not None:
        detail = error_text(event.error)
        return f"{kind}: {detail}" if detail else str(kind)
    if event.status_code is not None:
        return f"status {event.status_code}"
    return "unknown cause"  # pragma: no cover - every failure has an error or a status


class EventLogger:
    """A monitor callback that logs each event as one structured record.

    Args:
        logger: The logger, or its name.
        levels: Level per event type; missing types use [`DEFAULT_LEVELS`][].

    Raises:
        TypeError: ``logger`` is neither a ``logging.Logger`` nor a name, or
            ``levels`` maps something that is not an [`EventType`][] or an int.
    """

    __slots__ = ("levels", "logger")

    def __init__(
        self,
        logger: logging.Logger | str = DEFAULT_LOGGER,
        *,
        levels: Mapping[EventType, int] | None = None,
    ) -> None:
        if isinstance(logger, str):
            logger = logging.getLogger(logger)
        if not isinstance(logger, logging.Logger):
            raise TypeError(f"logger must be a logging.Logger or a name, got {logger!r}")
        merged = dict(DEFAULT_LEVELS)
        for event_type, level in (levels or {}).items():
            if not isinstance(event_type, EventType):
                raise TypeError(f"levels keys must be EventType members, got {event_type!r}")
            if isinstance(level, bool) or not isinstance(level, int):
                raise TypeError(f"levels values must be int levels, got {level!r}")
            merged[event_type] = level
        self.logger = logger
        self.levels: Mapping[EventType, int] = MappingProxyType(merged)

    def __call__(self, event: AsyncEvent) -> None:
        """Log ``event`` (if its level is enabled)."""
        level = self.levels[event.event_type]
        if not self.logger.isEnabledFor(level):
            return
        fields = event_fields(event)
        kind = fields["error_type"]
        where = (event.method, event.url)
        rid = event.context.request_id
        if event.event_type is EventType.RETRY:
            self.logger.log(
                level,
                "retry %d/%d of %s %s in %.3fs after %s [request %s]",
                event.attempts,
                event.context.max_retries,
                *where,
                event.delay or 0.0,
                _cause(event, kind),
                rid,
                extra=fields,
            )
        elif event.event_type is EventType.HEDGE:
            cause = f" after {_cause(event, kind)}" if kind is not None else ""
            self.logger.log(
                level,
                "hedge %d/%d of %s %s sent after %.3fs%s [request %s]",
                event.attempts - 1,
                event.context.max_hedges,
                *where,
                event.delay or 0.0,
                cause,
                rid,
                extra=fields,
            )
        elif event.event_type is EventType.SUCCESS:
            refused = f"; not retried: {event.reason.value}" if event.reason else ""
            self.logger.log(
                level,
                "%s %s -> %s after %d attempt(s) in %.3fs%s [request %s]",
                *where,
                event.status_code,
                event.attempts,
                event.elapsed,
                refused,
                rid,
                extra=fields,
            )
        else:
            verb = {
                EventType.ERROR: "failed",
                EventType.TIMEOUT: "timed out",
                EventType.CANCELLED: "cancelled",
            }[event.event_type]
            refused = f"; not retried: {event.reason.value}" if event.reason else ""
            self.logger.log(
                level,
                "%s %s %s after %d attempt(s) in %.3fs (%s)%s [request %s]",
                *where,
                verb,
                event.attempts,
                event.elapsed,
                _cause(event, kind),
                refused,
                rid,
                extra=fields,
            )

    def __repr__(self) -> str:
        return f"EventLogger({self.logger.name!r})"


def instrument(
    target: EventTarget,
    logger: logging.Logger | str = DEFAULT_LOGGER,
    *,
    levels: Mapping[EventType, int] | None = None,
) -> EventLogger:
    """Log every event of a monitor or a resilient client; return the callback.

    Args:
        target: An [`EventMonitor`][resilient_transport.EventMonitor] or an
            [`AsyncResilientClient`][resilient_transport.AsyncResilientClient].
        logger: The logger, or its name.
        levels: Level per event type; missing types use [`DEFAULT_LEVELS`][].

    Returns:
        The [`EventLogger`][] registered (pass it to
        ``remove_event_callback(None, ...)`` to stop logging).
    """
    callback = EventLogger(logger, levels=levels)
    attach(target, callback)
    return callback
