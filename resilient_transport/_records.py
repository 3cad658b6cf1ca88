"""Frozen records built from trusted values: the one way, for every record class.

A frozen dataclass's ``__init__`` sets each field through
``object.__setattr__`` and runs ``__post_init__``: right for values a user
gives, needless for values already validated (a copy of a context with one
more attempt) or made by the library itself (an event, a result), and it is
on the request path. `trusted` makes, once per class, two functions that set
the slots directly, generated as straight-line code (as ``dataclasses``
generates ``__init__``): ``build(**fields)`` and ``replace(record, **changes)``.
Neither validates anything: use them only for values known to be valid.
A subclass of the record class has an ``__init__`` of its own, which these
functions would skip: callers use ``dataclasses.replace`` for subclasses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["Trusted", "trusted"]

T = TypeVar("T")

_KEEP: Any = object()  # "not changed" in a generated replace()


@dataclasses.dataclass(frozen=True, slots=True)
class Trusted(Generic[T]):
    """The trusted constructors of one frozen, slotted dataclass."""

    #: ``build(*, field=value, ...)``: a record with every field given.
    build: Callable[..., T]
    #: ``replace(record, /, *, field=value, ...)``: a copy with the fields given changed.
    replace: Callable[..., T]


def trusted(cls: type[T]) -> Trusted[T]:
    """Generate the trusted ``build`` and ``replace`` of ``cls``, a frozen slotted dataclass."""
    names = [field.name for field in dataclasses.fields(cls)]  # type: ignore[arg-type]
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls, "_KEEP": _KEEP}
    for name in names:
        # A slot's own descriptor __set__ gets past the frozen __setattr__,
        # as object.__setattr__ does, at a fraction of its cost.
        namespace[f"_set_{name}"] = getattr(cls, name).__set__
    build_lines = [f"def build(*, {', '.join(names)}):", "    record = _new(_cls)"]
    build_lines += [f"    _set_{name}(record, {name})" for name in names]
    build_lines.append("    return record")
    keep_all = ", ".join(f"{name}=_KEEP" for name in names)
    replace_lines = [f"def replace(source, /, *, {keep_all}):", "    record = _new(_cls)"]
    replace_lines += [
        f"    _set_{name}(record, source.{name} if {name} is _KEEP else {name})" for name in names
    ]
    replace_lines.append("    return record")
    # Generated from the class's own field names only, as dataclasses does.
    exec("\n".join(build_lines), namespace)
    exec("\n".join(replace_lines), namespace)
    return Trusted(build=namespace["build"], replace=namespace["replace"])
