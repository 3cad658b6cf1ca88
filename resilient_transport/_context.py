"""The immutable per-request retry context."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from types import MappingProxyType
from typing import Any

from ._backoff import backoff_delay
from ._ids import new_request_id
from ._records import trusted
from ._validate import as_statuses, check_bool, check_deadline, check_int, check_seconds

__all__ = [
    "DEFAULT_BASE_DELAY",
    "DEFAULT_MAX_DELAY",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MAX_RETRY_AFTER",
    "INIT_NAMES",
    "INIT_SET",
    "NAMEABLE",
    "RECORD",
    "SETTINGS",
    "RequestContext",
    "construct",
    "differing",
    "named_of",
    "no_metadata",
]

#: Retries after the first attempt (so three attempts at most).
DEFAULT_MAX_RETRIES = 2
#: Seconds before the first retry (before jitter).
DEFAULT_BASE_DELAY = 1.0
#: The backoff cap in seconds, as in the AWS SDKs' standard retry mode: long
#: enough to ride out a restart, short enough that nobody mistakes it for a hang.
#: A cap nobody set rises to ``base_delay`` when that is larger.
DEFAULT_MAX_DELAY = 20.0
#: Largest server-requested ``Retry-After`` that is honoured, in seconds.
DEFAULT_MAX_RETRY_AFTER = 60.0

#: The fields that are settings. Per request, a context overrides the
#: transport's value of each setting it names; the rest come from the transport.
#: ``request_id`` and ``metadata`` are always the request's own, and
#: ``current_attempt`` is progress, counted by the transport from 0.
SETTINGS = frozenset(
    {
        "max_retries",
        "base_delay",
        "max_delay",
        "jitter",
        "deadline",
        "retry_connect_timeouts",
        "retry_idempotent_errors",
        "retry_statuses",
        "max_retry_after",
        "hedge_delay",
        "max_hedges",
    }
)
#: What a context remembers having been given: the settings, and
#: current_attempt (only to refuse it per request).
NAMEABLE = SETTINGS | {"current_attempt"}

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def no_metadata() -> Mapping[str, Any]:
    """The empty, read-only metadata of a context that was given none."""
    return _EMPTY


@dataclasses.dataclass(frozen=True, slots=True)
class RequestContext:
    """Retry settings and progress of one request; immutable.

    A context travels in ``request.extensions["retry"]``. Each retry makes a
    new context through [`increment_attempt`][]; none is ever mutated, so a
    context handed to an event or a callback stays true to its moment.

    A context remembers which settings it was given. Sent with a request, it
    overrides only those; every setting it was not given comes from the
    transport. So `RequestContext(max_retries=4, request_id="users")` on a
    transport built with `base_delay=0.01` retries four times with the
    transport's `base_delay`, `max_delay`, deadline and policy. The context
    that applied (the merge) is what events and `response.extensions["retry"]`
    carry; sent again as it is, it applies the same settings.

    Attributes:
        max_retries: Retries allowed after the first attempt.
        current_attempt: Failed attempts so far (retries performed, once the
            request has an answer). Counted by the transport from 0: a
            request may not set it.
        base_delay: Seconds before the first retry, before jitter.
        request_id: Names the request in events and monitor results; a fresh
            UUID4 string by default.
        metadata: Read-only copy of caller data (string keys), carried into
            every event.
        max_delay: Cap on any backoff delay, in seconds. Unless set, 20 s, or
            `base_delay` when that is larger.
        jitter: Fraction of each backoff delay that is randomised, ``0..1``;
            ``1.0`` is "full jitter".
        deadline: Seconds the whole request may take, every attempt and every
            sleep included, measured from the first attempt; ``None``: no limit.
        retry_connect_timeouts: Also retry ``ConnectTimeout`` (nothing was sent).
        retry_idempotent_errors: Also retry failures after which the server may
            have processed the request (reset, read error, read timeout, stale
            keep-alive), for idempotent requests only.
        retry_statuses: Error statuses (400-599) to retry, for idempotent
            requests only.
        max_retry_after: Largest ``Retry-After`` (seconds) that is honoured; a
            longer one ends retrying and the response is returned as is.
        hedge_delay: Seconds before each hedge (see the hedging guide); ``None``: no hedging.
        max_hedges: Hedges beyond the first attempt, ``0..4`` (gRPC: 5 attempts at most).
        named_fields: The settings (and ``current_attempt``) this context was
            given, the ones it overrides when sent with a request; read-only,
            not part of its value (two equal contexts may name different
            fields).

    Raises:
        TypeError: A field has the wrong type.
        ValueError: A field has a wrong value, or two fields given together
            contradict each other (``max_delay < base_delay``,
            ``deadline < base_delay``).
    """

    max_retries: int = 2
    current_attempt: int = 0
    base_delay: float = 1.0
    request_id: str = dataclasses.field(default_factory=new_request_id)
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=no_metadata)
    max_delay: float = 20.0
    jitter: float = 1.0
    deadline: float | None = None
    retry_connect_timeouts: bool = False
    retry_idempotent_errors: bool = False
    retry_statuses: AbstractSet[int] = frozenset()
    max_retry_after: float = 60.0
    hedge_delay: float | None = None
    max_hedges: int = 1
    # Set before __post_init__ runs (see _init below); not part of the value.
    named_fields: frozenset[str] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_int("max_retries", self.max_retries, 0)
        check_int("current_attempt", self.current_attempt, 0)
        check_seconds("base_delay", self.base_delay)
        if not isinstance(self.request_id, str):
            raise TypeError(f"request_id must be a str, got {self.request_id!r}")
        if not self.request_id:
            raise ValueError(f"request_id must not be empty, got {self.request_id!r}")
        if not isinstance(self.metadata, Mapping):
            raise TypeError(f"metadata must be a mapping, got {self.metadata!r}")
        if self.metadata is not _EMPTY:
            for key in self.metadata:
                if not isinstance(key, str):
                    raise TypeError(f"metadata keys must be str, got {key!r} in {self.metadata!r}")
            # Copy, so that the caller changing their dict cannot change us.
            object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))
        check_seconds("max_delay", self.max_delay)
        if isinstance(self.jitter, bool) or not isinstance(self.jitter, (int, float)):
            raise TypeError(f"jitter must be a number, got {self.jitter!r}")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter!r}")
        if self.deadline is not None:
            check_deadline(self.deadline)
        check_bool("retry_connect_timeouts", self.retry_connect_timeouts)
        check_bool("retry_idempotent_errors", self.retry_idempotent_errors)
        if type(self.retry_statuses) is not frozenset or self.retry_statuses:
            object.__setattr__(self, "retry_statuses", as_statuses(self.retry_statuses))
        check_seconds("max_retry_after", self.max_retry_after)
        if self.hedge_delay is not None:
            check_seconds("hedge_delay", self.hedge_delay)
        check_int("max_hedges", self.max_hedges, 0, 4)
        named = named_of(self)
        if self.max_delay < self.base_delay:
            if "max_delay" not in named:  # a cap nobody set follows the base delay
                object.__setattr__(self, "max_delay", self.base_delay)
            elif "base_delay" in named:
                raise ValueError(
                    f"max_delay must be >= base_delay, got max_delay={self.max_delay!r} "
                    f"and base_delay={self.base_delay!r}"
                )
        if (
            self.deadline is not None
            and self.deadline < self.base_delay
            and {"deadline", "base_delay"} <= named
        ):
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
        # re-validating them all.
        return RECORD.replace(self, current_attempt=self.current_attempt + 1)

    @property
    def has_retries_left(self) -> bool:
        """Whether another attempt may be made: ``current_attempt <= max_retries``."""
        return self.current_attempt <= self.max_retries

    def calculate_delay(self, random: Callable[[], float] = random.random) -> float:
        """Return the backoff before the next attempt, in seconds.

        Capped exponential backoff with jitter (see [`backoff_delay`][]): before
        retry ``n`` the ceiling is ``min(max_delay, base_delay * 2 ** (n - 1))``
        and the delay a draw below it. Always finite, ``>= 0`` and
        ``<= max_delay``.

        Args:
            random: Returns a float in ``[0, 1)``; injectable for tests.
        """
        return backoff_delay(
            self.current_attempt, self.base_delay, self.max_delay, self.jitter, random
        )

    def clone(self) -> RequestContext:
        """Return an equal, independent copy (same request id, same settings given)."""
        return self.__replace__()

    def __replace__(self, /, **changes: Any) -> RequestContext:
        """``copy.replace(ctx, **changes)``: the copy names what ``self`` named, and ``changes``.

        (``dataclasses.replace`` passes every field to the constructor and
        cannot say which were changed: its copy names the settings that differ
        from the class defaults.)
        """
        if type(self) is not RequestContext:
            return dataclasses.replace(self, **changes)
        values = {name: getattr(self, name) for name in INIT_NAMES}
        values.update(changes)
        return construct(named_of(self) | (NAMEABLE & changes.keys()), values)


RECORD = trusted(RequestContext)
INIT_NAMES = tuple(field.name for field in dataclasses.fields(RequestContext) if field.init)
INIT_SET = frozenset(INIT_NAMES)
_CLASS_DEFAULTS = {
    field.name: field.default
    for field in dataclasses.fields(RequestContext)
    if field.name in SETTINGS
}
_dataclass_init = RequestContext.__init__
# The one slot set before __init__ runs (see _init): its descriptor's __set__.
_set_named: Callable[[RequestContext, frozenset[str]], None] = vars(RequestContext)[
    "named_fields"
].__set__


def named_of(context: RequestContext) -> frozenset[str]:
    """The fields ``context`` was given; for a subclass built without our init, a guess."""
    try:
        return context.named_fields
    except AttributeError:  # a dataclass subclass's own __init__ never set it
        return differing(context.__getattribute__)


def differing(value_of: Callable[[str], Any]) -> frozenset[str]:
    """The settings whose value differs from the class default."""
    return frozenset(
        name for name, default in _CLASS_DEFAULTS.items() if value_of(name) != default
    )


def _init(self: RequestContext, *args: Any, **kwargs: Any) -> None:
    # Records which fields the caller gave, then runs the dataclass's own
    # __init__ (mypy and the docs see that one's signature).
    if args:
        named = NAMEABLE & {*INIT_NAMES[: len(args)], *kwargs}
    elif len(kwargs) == len(INIT_NAMES):
        # Every field given: a copy, as dataclasses.replace() makes. It cannot
        # say which fields were changed; those that differ from the class
        # defaults count as given.
        named = differing(kwargs.__getitem__)
    else:
        named = NAMEABLE & kwargs.keys()
    _set_named(self, named)
    _dataclass_init(self, *args, **kwargs)


_init.__wrapped__ = _dataclass_init  # type: ignore[attr-defined]
_init.__doc__ = _dataclass_init.__doc__
RequestContext.__init__ = _init  # type: ignore[method-assign]


def construct(named: frozenset[str], values: dict[str, Any]) -> RequestContext:
    """A validated context from every init field's value, naming exactly ``named``."""
    context = object.__new__(RequestContext)
    _set_named(context, named)
    _dataclass_init(context, **values)
    return context
