"""Checks of a context's values: each raises naming the field and showing the value."""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["as_statuses", "check_bool", "check_deadline", "check_int", "check_seconds"]


def check_int(name: str, value: object, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value!r}")


def check_seconds(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r}")


def as_statuses(value: object) -> frozenset[int]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"retry_statuses must be a collection of ints, got {value!r}")
    try:
        statuses = frozenset(value)
    except TypeError:  # an unhashable element: name the field, as for any other
        raise TypeError(f"retry_statuses must hold ints, got {value!r}") from None
    for status in statuses:
        if isinstance(status, bool) or not isinstance(status, int):
            raise TypeError(f"retry_statuses must hold ints, got {status!r} in {value!r}")
        if not 400 <= status <= 599:
            # A 1xx, 2xx or 3xx is not a failure: "retrying" it would resend a
            # request the server has served.
            raise ValueError(
                f"retry_statuses must hold error statuses (400-599), got {status!r} in {value!r}"
            )
    return statuses


def check_deadline(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"deadline must be a number of seconds or None, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"deadline must be a finite number > 0 or None, got {value!r}")
