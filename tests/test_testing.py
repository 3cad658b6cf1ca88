"""resilient_transport.testing: the helpers users test their own code with."""

from __future__ import annotations

import httpx
import pytest

from resilient_transport import AsyncEvent, EventMonitor, EventType, RetryingAsyncTransport
from resilient_transport.testing import EventRecorder, FlakyTransport, RecordingSleep

pytestmark = pytest.mark.anyio


async def test_recording_sleep_totals_the_delays_it_was_asked_for() -> None:
    sleep = RecordingSleep()
    transport = RetryingAsyncTransport(
        FlakyTransport(failures=3), sleep=sleep, max_retries=3, random=lambda: 0.0
    )
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get("http://service.test/")
    assert sleep.delays == [1.0, 2.0, 4.0]
    assert sleep.total == 7.0


async def test_an_event_recorder_is_also_a_monitor_callback() -> None:
    import anyio

    send, receive = anyio.create_memory_object_stream[AsyncEvent](10)
    monitor = EventMonitor(receive)
    with EventRecorder() as recorder:
        monitor.add_event_callback(None, recorder)
        async with monitor:
            transport = RetryingAsyncTransport(
                FlakyTransport(failures=1), events=send, sleep=RecordingSleep()
            )
            async with httpx.AsyncClient(transport=transport) as client:
                await client.get("http://service.test/")
        assert recorder.types() == [EventType.RETRY, EventType.SUCCESS]
