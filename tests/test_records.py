"""`_records.trusted`: the generated constructors of the frozen records."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import httpx
import pytest

from resilient_transport import AsyncEvent, EventType, RequestContext, RequestResult
from resilient_transport._context import RECORD
from resilient_transport._events import Emitter
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
def test_build_takes_the_fields_in_order_as_well_as_by_name(cls: type) -> None:
    names = [field.name for field in dataclasses.fields(cls)]
    values = list(range(10, 10 + len(names)))
    by_position: object = trusted(cls).build(*values)
    assert type(by_position) is cls
    by_name = trusted(cls).build(**dict(zip(names, values, strict=True)))
    assert by_position == cls(*values) == by_name
    assert [getattr(by_position, name) for name in names] == values


def test_the_hot_callers_pass_the_fields_in_their_order() -> None:
    """The event and the result are built positionally: a field moved would be caught here."""
    context = RequestContext(request_id="r")
    error = ValueError("boom")
    sent: list[AsyncEvent] = []

    class Sink:
        def send_nowait(self, item: AsyncEvent) -> None:
            sent.append(item)

        async def aclose(self) -> None: ...

    request = httpx.Request("PUT", "http://127.0.0.1:8000/p")
    Emitter(Sink(), lambda: 5.0).emit(
        EventType.ERROR, context, request, 3.0, attempts=2, error=error, status_code=None
    )
    (event,) = sent
    assert (event.event_type, event.context, event.method, event.url) == (
        EventType.ERROR,
        context,
        "PUT",
        "http://127.0.0.1:8000/p",
    )
    assert (event.attempts, event.elapsed, event.error, event.status_code) == (2, 2.0, error, None)
    assert (event.delay, event.reason, dict(event.data)) == (None, None, {})
    result = RequestResult.from_event(event)
    assert (result.request_id, result.attempts, result.total_time, result.outcome) == (
        "r",
        2,
        2.0,
        EventType.ERROR,
    )
    assert (result.status_code, result.reason, result.method, result.url) == (
        None,
        None,
        "PUT",
        "http://127.0.0.1:8000/p",
    )
    assert type(result.error) is ValueError and result.error.args == ("boom",)


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
