"""`_records.trusted`: the generated constructors of the frozen records."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import pytest

from resilient_transport import RequestContext
from resilient_transport._context import RECORD
from resilient_transport._records import Trusted, trusted


@dataclasses.dataclass(frozen=True, slots=True)
class Point:
    x: int
    y: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class Base:
    a: int


@dataclasses.dataclass(frozen=True, slots=True)
class Child(Base):
    b: int


@pytest.mark.parametrize("cls", [Point, Child], ids=["own-slots", "slots-in-a-base"])
def test_a_built_record_is_exactly_the_class_equal_frozen_and_picklable(cls: type) -> None:
    names = [field.name for field in dataclasses.fields(cls)]
    record: object = trusted(cls).build(**dict.fromkeys(names, 1))
    assert type(record) is cls
    assert record == cls(**dict.fromkeys(names, 1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(record, names[0], 2)
    assert pickle.loads(pickle.dumps(record)) == record


@pytest.mark.parametrize("cls", [Point, Child], ids=["own-slots", "slots-in-a-base"])
def test_replace_and_replacing_change_only_what_they_are_given(cls: type) -> None:
    names = [field.name for field in dataclasses.fields(cls)]
    made: Trusted[Any] = trusted(cls)
    record = made.build(**{name: index for index, name in enumerate(names)})
    first, last = names[0], names[-1]
    changed = made.replace(record, **{last: 99})
    assert type(changed) is cls
    assert getattr(changed, first) == getattr(record, first)
    assert getattr(changed, last) == 99
    one = made.replacing(first)(record, 42)
    assert type(one) is cls
    assert (getattr(one, first), getattr(one, last)) == (42, getattr(record, last))
    assert record == made.build(**{name: index for index, name in enumerate(names)})


def test_replacing_an_unknown_field_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="Point has no field 'z'"):
        trusted(Point).replacing("z")


def test_a_copied_context_keeps_what_it_was_given_and_stays_a_context() -> None:
    ctx = RequestContext(max_retries=4, request_id="users")
    copy = RECORD.replacing("request_id")(ctx, "orders")
    assert type(copy) is RequestContext
    assert (copy.max_retries, copy.request_id) == (4, "orders")
    assert copy.named_fields == ctx.named_fields
    assert copy == dataclasses.replace(ctx, request_id="orders")
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.max_retries = 1  # type: ignore[misc]
