"""Helpers to test code that uses resilient_transport, instantly and exactly.

- `CountingTransport`: wraps a real inner transport and counts the
  attempts that reach it, per request id.
- `FlakyTransport`: an inner transport whose every request fails its
  first N attempts with a connect error (or any error), then is answered.
- `ScriptedTransport`: an inner transport that follows one script of
  outcomes, call after call.
- `RecordingSleep`: an instant ``sleep`` that records the delays asked.
- `FakeClock`: a monotonic clock the test owns, with a ``sleep`` that
  advances it instead of waiting (for deadlines).
- `EventRecorder`: an event stream to hand a transport, and the list of
  what it received.
- `set_instant_sleep`: one line that makes every transport's backoff
  instant, for a whole test session.

Example:

```python
inner = FlakyTransport(failures=2)
sleep = RecordingSleep()
transport = RetryingAsyncTransport(inner, sleep=sleep)
async with httpx.AsyncClient(transport=transport) as client:
    response = await client.get("http://service.test/")
assert inner.calls == 3 and len(sleep.delays) == 2
```
"""

from __future__ import annotations

from . import _testing_transports
from ._testing_events import EventRecorder
from ._testing_time import FakeClock, RecordingSleep, set_instant_sleep
from ._testing_transports import CountingTransport, FlakyTransport, ScriptedTransport

__all__ = [
    "CountingTransport",
    "EventRecorder",
    "FakeClock",
    "FlakyTransport",
    "Handler",
    "Outcome",
    "RecordingSleep",
    "ScriptedTransport",
    "set_instant_sleep",
]

#: What answers a request: a function of the request that returns a response
#: (or an awaitable of one).
Handler = _testing_transports.Handler
#: One step of a script: an exception (instance or class) to raise, a status
#: code or a response to return, or a handler to call.
Outcome = _testing_transports.Outcome

for _value in (
    CountingTransport,
    EventRecorder,
    FakeClock,
    FlakyTransport,
    RecordingSleep,
    ScriptedTransport,
    set_instant_sleep,
):
    _value.__module__ = __name__
del _value
