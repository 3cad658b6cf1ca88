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

    #: ``build(field, ...)`` or ``build(field=value, ...)``: a record with every
    #: field given (in the class's field order, when positional).
    build: Callable[..., T]
    #: ``replace(record, /, *, field=value, ...)``: a copy with the fields given changed.
    replace: Callable[..., T]
    #: ``replacing(name)``: a function ``(record, value)``, a copy with that one
    #: field changed (no keyword to parse: for the request path).
    replacing: Callable[[str], Callable[[T, Any], T]]


def _twin(cls: type) -> type | None:
    """A plain class with the slots of ``cls``, whose instances can become ``cls``'s; or ``None``.

    Storing into a slot of a frozen dataclass from Python has to get past its
    ``__setattr__`` (through the slot's descriptor, or ``object.__setattr__``):
    about 700 instructions a field on CPython. A class with the same slots
    and no ``__setattr__`` stores at the interpreter's fast path; a record is
    filled in as one of those, then made a ``cls`` by assigning
    ``__class__``, which CPython allows between classes of the same layout
    and checks (a ``TypeError`` otherwise). About a fifth of the cost, for
    the per-request context and every event (docs/benchmarks.md). ``None``
    when ``cls`` does not have that layout (slots in a base class): the
    descriptors are used then.
    """
    slots = cls.__dict__.get("__slots__")
    if not isinstance(slots, tuple) or any(
        base.__dict__.get("__slots__") for base in cls.__mro__[1:]
    ):
        return None
    twin = type(f"_{cls.__name__}Twin", (), {"__slots__": slots, "__module__": __name__})
    probe: Any = object.__new__(twin)
    try:
        probe.__class__ = cls
    except TypeError:  # pragma: no cover - a layout CPython refuses to exchange
        return None
    return twin


def trusted(cls: type[T]) -> Trusted[T]:
    """Generate the trusted ``build`` and ``replace`` of ``cls``, a frozen slotted dataclass."""
    names = [field.name for field in dataclasses.fields(cls)]  # type: ignore[arg-type]
    twin = _twin(cls)
    namespace: dict[str, Any] = {
        "_new": object.__new__,
        "_cls": cls,
        "_twin": twin,
        "_KEEP": _KEEP,
    }
    if twin is not None:
        start, finish = (
            "    record = _twin()",  # cheaper than object.__new__(_twin): no __init__
            ["    record.__class__ = _cls", "    return record"],
        )
        store = "    record.{0} = {1}"
    else:
        for name in names:
            # A slot's own descriptor __set__ gets past the frozen __setattr__,
            # as object.__setattr__ does, at a fraction of its cost.
            namespace[f"_set_{name}"] = getattr(cls, name).__set__
        start, finish = "    record = _new(_cls)", ["    return record"]
        store = "    _set_{0}(record, {1})"
    # Positional or keyword: a hot caller passes the fields in order (no
    # keyword to match), every other caller names them.
    build_lines = [f"def build({', '.join(names)}):", start]
    build_lines += [store.format(name, name) for name in names]
    build_lines += finish
    keep_all = ", ".join(f"{name}=_KEEP" for name in names)
    replace_lines = [f"def replace(source, /, *, {keep_all}):", start]
    replace_lines += [
        store.format(name, f"source.{name} if {name} is _KEEP else {name}") for name in names
    ]
    replace_lines += finish
    # Generated from the class's own field names only, as dataclasses does.
    exec("\n".join(build_lines), namespace)
    exec("\n".join(replace_lines), namespace)

    def replacing(changed: str) -> Callable[[T, Any], T]:
        if changed not in names:
            raise ValueError(f"{cls.__name__} has no field {changed!r}")
        lines = ["def replace_one(source, value):", start]
        lines += [
            store.format(name, "value" if name == changed else f"source.{name}") for name in names
        ]
        lines += finish
        exec("\n".join(lines), namespace)
        function: Callable[[T, Any], T] = namespace.pop("replace_one")
        return function

    return Trusted(build=namespace["build"], replace=namespace["replace"], replacing=replacing)
