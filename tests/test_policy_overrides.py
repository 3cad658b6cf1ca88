"""Every option of the policy can be turned on or off for one request.

Through ``extensions={"retry": {...}}``, merged onto the transport's defaults.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from resilient_transport import GiveUpReason, RetryingAsyncTransport
from resilient_transport.testing import FlakyTransport, RecordingSleep, ScriptedTransport

from ._support import URL, run

pytestmark = pytest.mark.anyio


# (option, a failure it retries, its value when on, when off, the reason when off)
OVERRIDES = [
    ("retry_connect_timeouts", httpx.ConnectTimeout, True, False, GiveUpReason.NOT_RETRYABLE),
    ("retry_idempotent_errors", httpx.ReadError, True, False, GiveUpReason.NOT_RETRYABLE),
    # A status that is not listed is an answer: nothing was refused.
    ("retry_statuses", 503, [503], [], None),
]


@pytest.mark.parametrize(
    ("option", "failure", "on", "off", "reason"), OVERRIDES, ids=[o[0] for o in OVERRIDES]
)
async def test_an_option_can_be_turned_on_for_one_request(
    option: str, failure: Any, on: Any, off: Any, reason: GiveUpReason | None
) -> None:
    plain = await run(ScriptedTransport(failure, then=200))
    opted = await run(ScriptedTransport(failure, then=200), extensions={"retry": {option: on}})
    assert (plain.calls, opted.calls) == (1, 2)
    assert plain.terminal.reason is reason
    # The request's final context carries the override.
    final = opted.terminal.context
    assert getattr(final, option) == (frozenset(on) if isinstance(on, list) else on)


@pytest.mark.parametrize(
    ("option", "failure", "on", "off", "reason"), OVERRIDES, ids=[o[0] for o in OVERRIDES]
)
async def test_an_option_can_be_turned_off_for_one_request(
    option: str, failure: Any, on: Any, off: Any, reason: GiveUpReason | None
) -> None:
    default = await run(ScriptedTransport(failure, then=200), **{option: on})
    opted_out = await run(
        ScriptedTransport(failure, then=200), extensions={"retry": {option: off}}, **{option: on}
    )
    assert (default.calls, opted_out.calls) == (2, 1)
    assert opted_out.terminal.reason is reason


async def test_max_retry_after_can_be_lowered_and_raised_for_one_request() -> None:
    def busy() -> ScriptedTransport:
        return ScriptedTransport(httpx.Response(503, headers={"Retry-After": "5"}), then=200)

    lowered = await run(busy(), retry_statuses={503}, extensions={"retry": {"max_retry_after": 1}})
    raised = await run(
        busy(),
        retry_statuses={503},
        max_retry_after=1,
        extensions={"retry": {"max_retry_after": 10}},
    )
    assert (lowered.calls, lowered.terminal.reason) == (1, GiveUpReason.RETRY_AFTER_TOO_LONG)
    assert (raised.calls, raised.terminal.reason) == (2, None)


async def test_a_deadline_can_be_set_and_lifted_for_one_request() -> None:
    strict: dict[str, Any] = {"deadline": 1.0, "base_delay": 1.0, "jitter": 0.0}
    set_here = await run(FlakyTransport(failures=1), extensions={"retry": strict})
    lifted = await run(
        FlakyTransport(failures=1), **strict, extensions={"retry": {"deadline": None}}
    )
    assert (set_here.calls, set_here.terminal.reason) == (1, GiveUpReason.DEADLINE)
    assert (lifted.calls, lifted.terminal.reason) == (2, None)


async def test_a_per_request_override_that_contradicts_itself_is_refused_first() -> None:
    inner = FlakyTransport(failures=0)
    async with httpx.AsyncClient(transport=RetryingAsyncTransport(inner)) as c:
        with pytest.raises(ValueError, match=r"deadline must be >= base_delay.*base_delay=1\.0"):
            await c.get(URL, extensions={"retry": {"deadline": 0.5, "base_delay": 1.0}})
    assert inner.calls == 0


async def test_a_per_request_deadline_below_the_transports_base_delay_is_accepted() -> None:
    # The override names only the deadline: it cannot contradict the transport's
    # base delay, which it did not name. A retry that would cross it is not made.
    inner = FlakyTransport(failures=1)
    sleep = RecordingSleep()
    transport = RetryingAsyncTransport(inner, base_delay=2.0, jitter=0.0, sleep=sleep)
    async with httpx.AsyncClient(transport=transport) as c:
        with pytest.raises(httpx.ConnectError):
            await c.get(URL, extensions={"retry": {"deadline": 0.5}})
    assert (inner.calls, sleep.delays) == (1, [])
