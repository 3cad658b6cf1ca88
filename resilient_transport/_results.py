"""What the monitor keeps of each request: a frozen RequestResult."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from ._decision import GiveUpReason
from ._events import AsyncEvent, EventType
from ._records import trusted

__all__ = ["RequestResult"]


@dataclasses.dataclass(frozen=True, slots=True)
class RequestResult:
    """How one request ended; built from its terminal event.

    Attributes:
        request_id: The request's id.
        attempts: Attempts sent in all (retries + 1).
        total_time: Seconds from the start of the first attempt to the end.
        outcome: The terminal [`EventType`][].
        status_code: The final response's status, or ``None``.
        error: The exception that ended the request, or ``None``: a copy
            (same type, same message) detached from its traceback, so that
            kept results pin no stack frames; the event has the original.
        reason: Why it was not retried (again), or ``None``.
        method: The HTTP method.
        url: The URL, without credentials.
    """

    request_id: str
    attempts: int
    total_time: float
    outcome: EventType
    status_code: int | None = None
    error: BaseException | None = None
    reason: GiveUpReason | None = None
    method: str = ""
    url: str = ""

    @property
    def retries(self) -> int:
        """Retries performed: ``attempts - 1``."""
        return self.attempts - 1

    @property
    def succeeded(self) -> bool:
        """Whether an HTTP response came back (any status)."""
        return self.outcome is EventType.SUCCESS

    @classmethod
    def from_event(cls, event: AsyncEvent) -> RequestResult:
        """Build the result of a request from its terminal event."""
        error = event.error
        if error is not None:
            error = _detached(error)
        values: tuple[Any, ...] = (  # the fields, in order
            event.context.request_id,
            event.attempts,
            event.elapsed,
            event.event_type,
            event.status_code,
            error,
            event.reason,
            event.method,
            event.url,
        )
        if cls is RequestResult:
            # The monitor builds one per request: from trusted values (see _records).
            return _RECORD.build(*values)
        # A subclass may have an __init__ of its own, fields in another order.
        return cls(**dict(zip(_FIELDS, values, strict=True)))


def _detached(error: BaseException | None) -> BaseException | None:
    """A copy of ``error`` without traceback, cause or context.

    A kept result must not pin the stack frames of the request that failed
    (its locals, the inner transport's state): through its traceback one
    exception holds ~20 KB, and a monitor keeps thousands of results. The
    caller got the original, traceback and all. An exception that cannot be
    copied faithfully is kept as it is.
    """
    if error is None or (
        error.__traceback__ is None and error.__cause__ is None and error.__context__ is None
    ):
        return error
    try:
        clone = copy.copy(error)
    except Exception:
        return error
    if type(clone) is not type(error) or clone.args != error.args:  # pragma: no cover
        return error
    clone.__traceback__ = clone.__cause__ = clone.__context__ = None
    return clone


_RECORD = trusted(RequestResult)
_FIELDS = tuple(field.name for field in dataclasses.fields(RequestResult))
