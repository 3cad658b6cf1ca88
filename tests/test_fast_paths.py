"""The fast paths behave exactly as the plain ones: request ids, context copies, callbacks.

Kept apart from ``test_context.py`` (the context's contract), which would pass
300 lines with them.
"""

from __future__ import annotations

import dataclasses
import os
import uuid

import pytest

from resilient_transport import RequestContext


def test_generated_request_ids_are_distinct_canonical_uuid4_strings() -> None:
    ids = [RequestContext().request_id for _ in range(2_000)]  # several batches
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_reuse_its_parents_ids() -> None:
    RequestContext()  # the parent holds a batch now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, RequestContext().request_id.encode())
        os._exit(0)
    os.close(write)
    child_id = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert child_id != RequestContext().request_id
    assert uuid.UUID(child_id).version == 4


def test_increment_attempt_equals_replace_and_keeps_a_subclass() -> None:
    ctx = RequestContext(max_retries=5, metadata={"a": 1}, retry_statuses={503}, deadline=9.0)
    assert ctx.increment_attempt() == dataclasses.replace(ctx, current_attempt=1)

    @dataclasses.dataclass(frozen=True)
    class Tagged(RequestContext):
        tag: str = "x"

    assert type(Tagged().increment_attempt()) is Tagged


def test_from_event_builds_a_subclass_through_its_own_init() -> None:
    from resilient_transport import AsyncEvent, EventType, RequestResult

    @dataclasses.dataclass(frozen=True)
    class Labelled(RequestResult):
        label: str = "x"

    event = AsyncEvent(EventType.SUCCESS, RequestContext(request_id="a"), 0.0, status_code=200)
    result = Labelled.from_event(event)
    assert type(result) is Labelled
    assert (result.request_id, result.status_code) == ("a", 200)
    assert RequestResult.from_event(event) == RequestResult("a", 1, 0.0, EventType.SUCCESS, 200)


@pytest.mark.anyio
async def test_callbacks_after_an_async_one_still_run_in_order_and_errors_are_logged() -> None:
    import anyio
    import anyio.lowlevel

    from resilient_transport import AsyncEvent, EventMonitor, EventType

    send, receive = anyio.create_memory_object_stream[AsyncEvent](10)
    seen: list[str] = []

    async def first(event: AsyncEvent) -> None:
        await anyio.lowlevel.checkpoint()
        seen.append("async")

    def broken(event: AsyncEvent) -> None:
        raise RuntimeError("after an async callback")

    monitor = EventMonitor(receive)
    monitor.add_event_callback(None, first)
    monitor.add_event_callback(None, broken)
    monitor.add_event_callback(None, lambda event: seen.append("sync"))
    monitor.add_event_callback(None, first)
    async with monitor:
        send.send_nowait(AsyncEvent(EventType.SUCCESS, RequestContext(request_id="r"), 0.0))
        await monitor.wait_for_all_requests()
    send.close()
    assert seen == ["async", "sync", "async"]
    assert monitor.callback_errors == 1
    assert monitor.get_result("r") is not None
