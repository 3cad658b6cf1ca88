"""Building frozen, slotted records without their ``__init__``, on the hot paths."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

__all__ = ["NEW", "slot_setters"]

#: Makes an empty instance: ``NEW(cls)``.
NEW = object.__new__


def slot_setters(cls: type[Any]) -> tuple[Callable[[Any, Any], None], ...]:
    """The setters of a slotted dataclass's fields, in declaration order.

    A slot's own descriptor ``__set__`` gets past the frozen ``__setattr__``
    as ``object.__setattr__`` does, at a fraction of its cost. A record built
    through them skips ``__init__`` and ``__post_init__``: only for values
    already known to be valid (a copy of a validated record, say).
    """
    return tuple(getattr(cls, field.name).__set__ for field in dataclasses.fields(cls))
