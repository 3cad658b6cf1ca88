"""How a request's own retry settings combine with its transport's.

A request overrides only the settings it names (by a `RequestContext` or a
dict); the rest are the transport's. What applied, the merge, is the context
that events and ``response.extensions["retry"]`` carry. See the
`RequestContext` docs for the rules on caps, deadlines and copies.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from ._context import (
    DEFAULT_MAX_DELAY,
    INIT_NAMES,
    INIT_SET,
    NAMEABLE,
    RECORD,
    SETTINGS,
    RequestContext,
    construct,
    differing,
    named_of,
    no_metadata,
)
from ._ids import new_request_id

__all__ = [
    "applied_context",
    "apply_context",
    "apply_dict",
    "defaults_context",
    "with_fresh_id",
]

# A request's own fields, whether it named them or not.
_OWN = frozenset({"request_id", "metadata"})
_CURRENT_ATTEMPT_MESSAGE = (
    "current_attempt is counted by the transport from 0 and cannot be set per request, got {!r}"
)


def applied_context(defaults: RequestContext, value: object) -> RequestContext:
    """The context a request uses: ``defaults`` with its "retry" extension ``value`` applied.

    Raises:
        TypeError: ``value`` is not a `RequestContext`, a dict or ``None``
            (the message names the "retry" extension), or the dict names no
            field of a `RequestContext`.
        ValueError: A value is wrong.
    """
    if value is None:
        return with_fresh_id(defaults)
    if isinstance(value, RequestContext):
        return apply_context(defaults, value)
    if isinstance(value, Mapping):
        return apply_dict(defaults, value)
    raise TypeError(
        'the "retry" request extension must be a RequestContext, a dict of '
        f"RequestContext fields, or None; got {value!r}"
    )


def apply_dict(defaults: RequestContext, overrides: Mapping[str, Any]) -> RequestContext:
    """Return ``defaults`` with a request's ``extensions={"retry": {...}}`` applied.

    The settings the dict names override the transport's ``defaults``; a
    missing ``request_id`` is a fresh one.

    Raises:
        TypeError: ``overrides`` names a field that does not exist, or a
            value has the wrong type.
        ValueError: A value is wrong, or ``current_attempt`` is named.
    """
    for key in overrides:
        if key not in INIT_SET:
            raise TypeError(_unknown_field_message(key, overrides))
    if "current_attempt" in overrides:
        raise ValueError(_CURRENT_ATTEMPT_MESSAGE.format(overrides["current_attempt"]))
    values = {name: getattr(defaults, name) for name in INIT_NAMES}
    values["current_attempt"] = 0
    values["request_id"] = new_request_id()
    values.update(overrides)
    # Validated as if the dict's keys were all that was given: settings it
    # names together must agree; with the transport's, they need not.
    context = construct(NAMEABLE & overrides.keys(), values)
    union = _named_for_merge(defaults, overrides.keys())
    # A cap the transport set holds, where the dict's own rules raised it.
    cap = defaults.max_delay if "max_delay" in union - overrides.keys() else context.max_delay
    return RECORD.replace(context, max_delay=cap, named_fields=union)


def apply_context(defaults: RequestContext, request_context: RequestContext) -> RequestContext:
    """Return ``defaults`` with a request's own `RequestContext` applied.

    Raises:
        ValueError: ``request_context`` names ``current_attempt``.
    """
    named = named_of(request_context)
    if "current_attempt" in named:
        raise ValueError(_CURRENT_ATTEMPT_MESSAGE.format(request_context.current_attempt))
    if type(request_context) is not RequestContext:  # a subclass keeps its class
        changes: dict[str, Any] = {
            name: getattr(defaults, name) for name in SETTINGS if name not in named
        }
        return dataclasses.replace(request_context, current_attempt=0, **changes)
    union = _named_for_merge(defaults, named)
    given = {name: getattr(request_context, name) for name in named | _OWN}
    merged = RECORD.replace(defaults, current_attempt=0, named_fields=union, **given)
    if merged.max_delay < merged.base_delay and "max_delay" not in union:
        # The merge put a larger base delay under a cap nobody set.
        return RECORD.replace(merged, max_delay=merged.base_delay)
    return merged


_with_id = RECORD.replacing("request_id")


def with_fresh_id(defaults: RequestContext) -> RequestContext:
    """A copy of a transport's (validated) defaults under a new request id, not re-validated."""
    return _with_id(defaults, new_request_id())


def _named_for_merge(defaults: RequestContext, keys: AbstractSet[str]) -> frozenset[str]:
    return named_of(defaults) | (SETTINGS & keys)


def defaults_context(*, max_delay: float | None, **settings: Any) -> RequestContext:
    """A transport's defaults, from its setting keywords (validated here).

    A transport cannot tell a keyword left at its default from one given with
    the same value: the settings that differ from the class defaults count as
    given, and ``max_delay`` when the transport was given one (``None``
    leaves the cap unset: it follows ``base_delay``).
    """
    values = {
        **settings,
        "current_attempt": 0,
        "request_id": "defaults",
        "metadata": no_metadata(),
        "max_delay": DEFAULT_MAX_DELAY if max_delay is None else max_delay,
    }
    named = differing(values.__getitem__) | (set() if max_delay is None else {"max_delay"})
    return construct(named & INIT_SET, values)


def _unknown_field_message(key: object, overrides: Mapping[str, Any]) -> str:
    message = f"unknown RequestContext field {key!r} in {dict(overrides)!r}"
    if isinstance(key, str):
        close = difflib.get_close_matches(key, INIT_NAMES, n=1)
        if not close:
            close = [name for name in INIT_NAMES if key in name][:1]
        if close:
            message += f"; did you mean {close[0]!r}?"
    return message
