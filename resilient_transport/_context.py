"""The immutable per-request retry context."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from types import MappingProxyType
from typing import Any

from ._backoff import DEFAULT_RANDOM, backoff_delay
from ._slots import NEW, slot_setters

__all__ = ["DEFAULT_BASE_DELAY", "DEFAULT_MAX_DELAY", "DEFAULT_MAX_RETRIES", "RequestContext"]

#: Retries after the first attempt (so three attempts at most).
DEFAULT_MAX_RETRIES = 2
#: Seconds before the first retry (before jitter).
DEFAULT_BASE_DELAY = 1.0
#: The backoff cap in seconds, as in the AWS SDKs' standard retry mode: long
#: enough to ride out a restart, short enough that nobody mistakes it for a hang.
DEFAULT_MAX_DELAY = 20.0
#: Largest server-requested ``Retry-After`` that is honoured, in seconds.
DEFAULT_MAX_RETRY_AFTER = 60.0

_EMPTY: Mapping[str, Any] = MappingProxyType({})


# Request ids are made in batches: ``str(uuid.uuid4())`` costs about 2 µs, most
# of it building a UUID object and formatting it, which is a few percent of a
# whole in-process request. A batch draws its randomness in one os.urandom()
# call, sets the version and variant bits of every id at once, and lays out
# the text of every id with one slice assignment per character position;
# each id is exactly what str(uuid.uuid4()) gives, at a tenth of the cost.
_ID_BATCH = 256
_VERSION_4 = bytes((byte & 0x0F) | 0x40 for byte in range(256))
_VARIANT_RFC_4122 = bytes((byte & 0x3F) | 0x80 for byte in range(256))
_DASHES = frozenset({8, 13, 18, 23})  # in "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"
_request_ids: list[str] = []


def _uuid4_strings(count: int) -> list[str]:
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = raw[6::16].translate(_VERSION_4)
    raw[8::16] = raw[8::16].translate(_VARIANT_RFC_4122)
    digits = raw.hex().encode("ascii")  # 32 per id
    text = bytearray(36 * count)  # 36 per id
    digit = 0
    for position in range(36):
        if position in _DASHES:
            text[position::36] = b"-" * count
        else:
            text[position::36] = digits[digit::32]
            digit += 1
    joined = text.decode("ascii")
    return [joined[start : start + 36] for start in range(0, 36 * count, 36)]


def _new_request_id() -> str:
    """A fresh random UUID4 string, as ``str(uuid.uuid4())``."""
    try:
        return _request_ids.pop()
    except IndexError:
        _request_ids.extend(_uuid4_strings(_ID_BATCH))
        return _request_ids.pop()


# A forked child must not hand out the ids its parent holds too.
if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(after_in_child=_request_ids.clear)


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")


def _check_seconds(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r}")


def _as_statuses(value: object) -> frozenset[int]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"retry_statuses must be a collection of ints, got {value!r}")
    try:
        statuses = frozenset(value)
    except TypeError:  # an unhashable element: name the field, as for any other
        raise TypeError(f"retry_statuses must hold ints, got {value!r}") from None
    for status in statuses:
        if isinstance(status, bool) or not isinstance(status, int):
            raise TypeError(f"retry_statuses must hold ints, got {status!r} in {value!r}")
        if not 100 <= status <= 599:
            raise ValueError(f"retry_statuses must hold HTTP status codes, got {status!r}")
    return statuses


@dataclasses.dataclass(frozen=True, slots=True)
class RequestContext:
    """Retry settings and progress of one request; immutable.

    A context travels in ``request.extensions["retry"]``. Each retry makes a
    new context through :meth:`increment_attempt`; none is ever mutated, so a
    context handed to an event or a callback stays true to its moment.

    Attributes:
        max_retries: Retries allowed after the first attempt.
        current_attempt: Failed attempts so far (retries performed, once the
            request has an answer).
        base_delay: Seconds before the first retry, before jitter.
        request_id: Names the request in events and monitor results; a fresh
            UUID4 string by default.
        metadata: Read-only copy of caller data, carried into every event.
        max_delay: Cap on any backoff delay, in seconds.
        jitter: Fraction of each backoff delay that is randomised, ``0..1``;
            ``1.0`` is "full jitter".
        deadline: Seconds the whole request may take, every attempt and every
            sleep included, measured from the first attempt; ``None``: no limit.
        retry_connect_timeouts: Also retry ``ConnectTimeout`` (nothing was sent).
        retry_idempotent_errors: Also retry failures after which the server may
            have processed the request (reset, read error, read timeout, stale
            keep-alive), for idempotent requests only.
        retry_statuses: HTTP statuses to retry, for idempotent requests only.
        max_retry_after: Largest ``Retry-After`` (seconds) that is honoured; a
            longer one ends retrying and the response is returned as is.

    Raises:
        TypeError: A field has the wrong type.
        ValueError: A field has a wrong value, or two fields contradict each
            other (``max_delay < base_delay``, ``deadline < base_delay``).
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    current_attempt: int = 0
    base_delay: float = DEFAULT_BASE_DELAY
    request_id: str = dataclasses.field(default_factory=_new_request_id)
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=lambda: _EMPTY)
    max_delay: float = DEFAULT_MAX_DELAY
    jitter: float = 1.0
    deadline: float | None = None
    retry_connect_timeouts: bool = False
    retry_idempotent_errors: bool = False
    retry_statuses: AbstractSet[int] = frozenset()
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER

    def __post_init__(self) -> None:
        _check_int("max_retries", self.max_retries, 0)
        _check_int("current_attempt", self.current_attempt, 0)
        _check_seconds("base_delay", self.base_delay)
        if not isinstance(self.request_id, str):
            raise TypeError(f"request_id must be a str, got {self.request_id!r}")
        if not self.request_id:
            raise ValueError(f"request_id must not be empty, got {self.request_id!r}")
        if not isinstance(self.metadata, Mapping):
            raise TypeError(f"metadata must be a mapping, got {self.metadata!r}")
        if self.metadata is not _EMPTY:
            # Copy, so that the caller changing their dict cannot change us.
            object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))
        _check_seconds("max_delay", self.max_delay)
        if isinstance(self.jitter, bool) or not isinstance(self.jitter, (int, float)):
            raise TypeError(f"jitter must be a number, got {self.jitter!r}")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter!r}")
        if self.deadline is not None:
            _check_seconds("deadline", self.deadline)
            if self.deadline == 0:
                raise ValueError(f"deadline must be > 0 or None, got {self.deadline!r}")
        _check_bool("retry_connect_timeouts", self.retry_connect_timeouts)
        _check_bool("retry_idempotent_errors", self.retry_idempotent_errors)
        if type(self.retry_statuses) is not frozenset or self.retry_statuses:
            object.__setattr__(self, "retry_statuses", _as_statuses(self.retry_statuses))
        _check_seconds("max_retry_after", self.max_retry_after)
        if self.max_delay < self.base_delay:
            raise ValueError(
                f"max_delay must be >= base_delay, got max_delay={self.max_delay!r} "
                f"and base_delay={self.base_delay!r}"
            )
        if self.deadline is not None and self.deadline < self.base_delay:
            raise ValueError(
                f"deadline must be >= base_delay, got deadline={self.deadline!r} "
                f"and base_delay={self.base_delay!r}"
            )

    def increment_attempt(self) -> RequestContext:
        """Return a new context with one more failed attempt; ``self`` is unchanged."""
        if type(self) is not RequestContext:  # a subclass may validate more
            return dataclasses.replace(self, current_attempt=self.current_attempt + 1)
        # Every retry makes one: copy the fields as they are (they were
        # validated, and one more attempt stays valid) instead of
        # re-validating them all, which costs five times as much.
        new = NEW(RequestContext)
        for name, set_field in _SETTERS.items():
            set_field(new, getattr(self, name))
        _SETTERS["current_attempt"](new, self.current_attempt + 1)
        return new

    @property
    def has_retries_left(self) -> bool:
        """Whether another attempt may be made: ``current_attempt <= max_retries``."""
        return self.current_attempt <= self.max_retries

    def calculate_delay(self, random: Callable[[], float] = DEFAULT_RANDOM) -> float:
        """Return the backoff before the next attempt, in seconds.

        Capped exponential backoff with jitter (see
        :func:`resilient_transport.backoff_delay`): before retry ``n`` the
        ceiling is ``min(max_delay, base_delay * 2 ** (n - 1))`` and the delay a
        draw below it. Always finite, ``>= 0`` and ``<= max_delay``.

        Args:
            random: Returns a float in ``[0, 1)``; injectable for tests.
        """
        return backoff_delay(
            self.current_attempt, self.base_delay, self.max_delay, self.jitter, random
        )

    def clone(self) -> RequestContext:
        """Return an equal, independent copy (same request id)."""
        return dataclasses.replace(self)

    def _fresh_id_copier(self) -> Callable[[], RequestContext]:
        """Return a function that makes copies of this context, each under a new id.

        The transport keeps one for its defaults, to stamp them on each
        request: it skips re-validation (only the id changes, and a UUID is
        valid) and reads every field once, not once per request, which makes
        a copy three times cheaper than a loop over the fields.
        """
        values = tuple(
            (_SETTERS[name], getattr(self, name)) for name in _FIELD_NAMES if name != "request_id"
        )
        set_request_id = _SETTERS["request_id"]
        new = NEW

        def copy() -> RequestContext:
            context = new(RequestContext)
            for set_field, value in values:
                set_field(context, value)
            set_request_id(context, _new_request_id())
            return context

        return copy

    def _merged(self, overrides: Mapping[str, Any]) -> RequestContext:
        """Return a copy with ``overrides`` applied and a fresh request id.

        Raises:
            TypeError: ``overrides`` names a field that does not exist, or a
                value has the wrong type.
            ValueError: A value is wrong.
        """
        unknown = [key for key in overrides if key not in _FIELD_SET]
        if unknown:
            raise TypeError(
                f"unknown RequestContext field(s) {sorted(map(repr, unknown))} in {overrides!r}"
            )
        if "request_id" not in overrides:
            overrides = {**overrides, "request_id": _new_request_id()}
        return dataclasses.replace(self, **overrides)


_FIELD_NAMES = tuple(field.name for field in dataclasses.fields(RequestContext))
_SETTERS = dict(zip(_FIELD_NAMES, slot_setters(RequestContext), strict=True))
_FIELD_SET = frozenset(_FIELD_NAMES)
