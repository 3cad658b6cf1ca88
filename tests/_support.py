"""What the tests share: the one URL of the in-process tests, and `run`.

A test that needs a real socket uses the server fixture (``tests/_server.py``);
every other test sends to `URL`, which never leaves the process (and which the
session's loopback guard would refuse if it tried).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx

from resilient_transport import AsyncEvent, RetryingAsyncTransport
from resilient_transport.testing import (
    EventRecorder,
    FlakyTransport,
    RecordingSleep,
    ScriptedTransport,
)

#: The URL of every in-process test: an inner transport answers it, so the
#: value only has to be recognisable in events, logs and metrics.
URL = "http://service.test/resource"
#: Every retry option that is off by default, on.
EVERY_OPTION: dict[str, Any] = {
    "retry_connect_timeouts": True,
    "retry_idempotent_errors": True,
    "retry_statuses": {429, 502, 503, 504},
}


@dataclasses.dataclass
class Outcome:
    """What `run` saw: the attempts, the events, the response or the exception."""

    calls: int
    events: list[AsyncEvent]
    result: httpx.Response | BaseException

    @property
    def terminal(self) -> AsyncEvent:
        assert [e.is_terminal for e in self.events].count(True) == 1
        return self.events[-1]


async def run(
    inner: httpx.AsyncBaseTransport,
    *,
    url: str = URL,
    method: str = "GET",
    content: Any = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
    **transport_kwargs: Any,
) -> Outcome:
    """Send one request through a recording transport; never raises.

    The result is the response, or the exception the client raised.
    """
    transport_kwargs.setdefault("sleep", RecordingSleep())
    with EventRecorder() as recorder:
        transport = RetryingAsyncTransport(inner, events=recorder.send, **transport_kwargs)
        async with httpx.AsyncClient(transport=transport) as client:
            result: httpx.Response | BaseException
            try:
                result = await client.request(
                    method, url, content=content, headers=headers, extensions=extensions
                )
            except Exception as exc:
                result = exc
        events = recorder.events
    calls = inner.calls if isinstance(inner, (ScriptedTransport, FlakyTransport)) else -1
    return Outcome(calls, events, result)
