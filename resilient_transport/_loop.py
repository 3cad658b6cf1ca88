"""What the two retrying transports share: their settings and the bookkeeping of their loop.

`RetryingAsyncTransport` and `RetryingTransport` each keep their own loop,
with one call site for the inner transport (one awaits, the other blocks).
Everything around it is here, once: checking the keywords, the context a
request uses, booking an answer, deciding on anything else
(`RetryPolicy.decide`) and reporting it in events. A change of policy is
made in one place and holds for both.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from ._attempt import check_port
from ._breaker import CircuitBreaker
from ._budget import RetryBudget
from ._circuit import CircuitOpenError
from ._context import RequestContext
from ._decision import CancelledClass, Decision, RetryPolicy
from ._events import Emitter, EventType, terminal_event_type
from ._overrides import applied_context, defaults_context
from ._stack import httpx

__all__ = ["RetryCore"]


class RetryCore:
    """A transport's defaults, budget, clock, policy and emitter, and the loop's bookkeeping.

    Built from the transports' keywords, which it checks (``TypeError`` or
    ``ValueError`` naming the keyword). Holds no state of any one request:
    one core serves any number of requests, in tasks or threads, at once.
    """

    __slots__ = ("breaker", "budget", "clock", "defaults", "emitter", "policy")

    def __init__(
        self,
        *,
        max_retries: int,
        base_delay: float,
        max_delay: float | None,
        jitter: float,
        deadline: float | None,
        retry_connect_timeouts: bool,
        retry_idempotent_errors: bool,
        retry_statuses: Collection[int],
        max_retry_after: float,
        hedge_delay: float | None = None,
        max_hedges: int = 1,
        budget: RetryBudget | None,
        breaker: CircuitBreaker | None = None,
        events: object,
        sleep: object,
        clock: Callable[[], float],
        random: Callable[[], float],
        cancelled: CancelledClass,
        synchronous: bool,
    ) -> None:
        if budget is not None and not isinstance(budget, RetryBudget):
            raise TypeError(f"budget must be a RetryBudget or None, got {budget!r}")
        if breaker is not None and not isinstance(breaker, CircuitBreaker):
            raise TypeError(f"breaker must be a CircuitBreaker or None, got {breaker!r}")
        for name, value in (("sleep", sleep), ("clock", clock), ("random", random)):
            if not callable(value):
                raise TypeError(f"{name} must be callable, got {value!r}")
        # max_delay=None leaves the cap unset: it follows base_delay (see
        # RequestContext.max_delay).
        self.defaults = defaults_context(
            max_retries=max_retries,
            base_delay=base_delay,
            max_delay=max_delay,
            jitter=jitter,
            deadline=deadline,
            retry_connect_timeouts=retry_connect_timeouts,
            retry_idempotent_errors=retry_idempotent_errors,
            retry_statuses=retry_statuses,
            max_retry_after=max_retry_after,
            hedge_delay=hedge_delay,
            max_hedges=max_hedges,
        )
        # Raises TypeError for a bad stream.
        self.emitter = Emitter(events, clock, synchronous=synchronous)
        self.budget = budget
        #: Asked before every attempt, told every outcome (by the transport's
        #: per-attempt path, which hedges share), when not None.
        self.breaker = breaker
        self.policy = RetryPolicy(clock, random, budget, cancelled, breaker)
        self.clock = clock

    def begin(self, request: httpx.Request) -> tuple[RequestContext, float]:
        """The context ``request`` uses and its start time, before any attempt.

        Raises:
            httpx.InvalidURL: The port is outside 1-65535.
            TypeError, ValueError: The "retry" extension is wrong.
        """
        check_port(request)
        ctx = applied_context(self.defaults, request.extensions.get("retry"))
        # Only events and deadlines need the start time.
        start = self.clock() if self.emitter.active or ctx.deadline is not None else 0.0
        return ctx, start

    def answer(
        self, request: httpx.Request, ctx: RequestContext, response: httpx.Response, start: float
    ) -> httpx.Response:
        """Book an answer with a status that is not retried; it leaves with its context."""
        budget = self.budget
        if budget is not None:
            budget.record_success()
        response.extensions["retry"] = ctx
        emitter = self.emitter
        if emitter.active:
            emitter.emit(
                EventType.SUCCESS,
                ctx,
                request,
                start,
                attempts=ctx.current_attempt + 1,
                status_code=response.status_code,
            )
        return response

    def decide(
        self,
        request: httpx.Request,
        ctx: RequestContext,
        outcome: httpx.Response | BaseException,
        start: float,
        in_attempt: bool,
    ) -> Decision:
        """Decide on anything but an answer, and report it: a RETRY or the terminal event.

        ``in_attempt`` tells whether ``outcome`` came from an attempt (rather
        than from the sleep before one). A response given up on gets its
        context; a retried one is the caller's to drain.
        """
        decision = self.policy.decide(request, ctx, outcome, start)
        emitter = self.emitter
        if decision.retry:
            if not isinstance(outcome, BaseException):
                error, status = None, outcome.status_code
            else:
                error, status = outcome, None
            emitter.emit(
                EventType.RETRY,
                decision.context,
                request,
                start,
                attempts=decision.context.current_attempt,
                error=error,
                status_code=status,
                delay=decision.delay,
            )
            return decision
        # A refused attempt was never sent: it is not one of the attempts.
        if in_attempt and not isinstance(outcome, CircuitOpenError):
            attempts = ctx.current_attempt + 1
        else:
            attempts = ctx.current_attempt
        if not isinstance(outcome, BaseException):
            outcome.extensions["retry"] = decision.context
            emitter.emit(
                EventType.SUCCESS,
                decision.context,
                request,
                start,
                attempts=attempts,
                status_code=outcome.status_code,
                reason=decision.reason,
            )
        else:
            emitter.emit(
                terminal_event_type(outcome, decision.reason),
                decision.context,
                request,
                start,
                attempts=attempts,
                error=outcome,
                reason=decision.reason,
            )
        return decision
