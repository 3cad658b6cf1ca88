"""What the monitor keeps of each request: a frozen RequestResult."""

from __future__ import annotations

import copy
import dataclasses

from ._events import AsyncEvent, EventType
from ._policy import GiveUpReason
from ._slots import NEW, slot_setters

__all__ = ["RequestResult"]


@dataclasses.dataclass(frozen=True, slots=True)
class RequestResult:
    """How one request ended; built from its terminal event.

    Attributes:
        request_id: The request's id.
        attempts: Attempts sent in all (retries + 1).
        total_time: Seconds from the start of the first attempt to the end.
        outcome: The terminal :class:`EventType`.
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
        # The monitor builds one per request: through the slots' setters,
        # a third less than the frozen dataclass __init__.
        result = NEW(RequestResult)
        _set_request_id(result, event.context.request_id)
        _set_attempts(result, event.attempts)
        _set_total_time(result, event.elapsed)
        _set_outcome(result, event.event_type)
        _set_status_code(result, event.status_code)
        _set_error(result, _detached(event.error))
        _set_reason(result, event.reason)
        _set_method(result, event.method)
        _set_url(result, event.url)
        if cls is not RequestResult:  # a subclass may have an __init__ of its own
            return cls(**{name: getattr(result, name) for name in _RESULT_FIELDS})
        return result


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


_RESULT_FIELDS = tuple(field.name for field in dataclasses.fields(RequestResult))
# In field order; the unpacking fails at import if a field is added.
(
    _set_request_id,
    _set_attempts,
    _set_total_time,
    _set_outcome,
    _set_status_code,
    _set_error,
    _set_reason,
    _set_method,
    _set_url,
) = slot_setters(RequestResult)
