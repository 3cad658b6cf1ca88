"""A circuit breaker per origin, shared by transports like a `RetryBudget`."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable

from ._circuit import CircuitOpenError, CircuitState, CircuitTransition, origin_of
from ._stack import httpx
from ._trip import Circuit, Rules

__all__ = ["CircuitBreaker"]

logger = logging.getLogger("resilient_transport")

#: A callback of a breaker: called with each transition, its result ignored.
TransitionCallback = Callable[[CircuitTransition], object]

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN

# Circuits kept before idle closed ones (nothing in their window, no failure
# in a row: the same as no circuit at all) are dropped; doubles as needed.
_SWEEP_AT = 1024


class CircuitBreaker:
    """Stops sending to an origin that keeps failing, then probes it; one object, shared.

    Every attempt of a transport given ``breaker=`` is asked for first: while
    its origin's circuit is open, the request fails at once with
    [`CircuitOpenError`][resilient_transport.CircuitOpenError], without
    touching the network. One breaker may serve any number of transports,
    tasks and threads; each origin (scheme, host, port) has its own circuit.

    A closed circuit opens when either rule trips, counting attempts, not
    requests: ``consecutive_failures`` unhealthy attempts in a row (Envoy's
    outlier detection: 5), or, over the last ``window`` seconds (kept in
    one-second buckets), at least ``minimum_attempts`` attempts of which a
    share of at least ``failure_ratio`` were unhealthy. After
    ``break_duration`` seconds it is half-open: up to ``probes`` attempts go
    out at once; a healthy one closes the circuit, an unhealthy one opens it
    for another break. A probe with no answer after ``break_duration`` gives
    its place up. What is healthy, unhealthy or not counted is in the guide.

    Args:
        consecutive_failures: Unhealthy attempts in a row that open the
            circuit (>= 1), or ``None`` for no such rule.
        failure_ratio: Share of unhealthy attempts in the window that opens
            the circuit (``0 < ratio <= 1``), or ``None`` for no such rule.
        minimum_attempts: Attempts the window needs before its ratio counts (>= 1).
        window: Seconds of history for the ratio (>= 1).
        break_duration: Seconds an open circuit refuses everything (> 0).
        probes: Attempts let through at once while half-open (>= 1).
        on_state_change: Called with each
            [`CircuitTransition`][resilient_transport.CircuitTransition]; add
            more with `subscribe`.
        clock: Monotonic seconds; injectable for tests.

    Raises:
        TypeError: An argument has the wrong type (the message names it).
        ValueError: An argument has a wrong value (the message names it).
    """

    __slots__ = (
        "_callbacks",
        "_circuits",
        "_clock",
        "_epochs",
        "_lock",
        "_rules",
        "_sweep_at",
        "admitted",
        "break_duration",
        "callback_errors",
        "consecutive_failures",
        "failure_ratio",
        "minimum_attempts",
        "probes",
        "refused",
        "window",
    )

    def __init__(
        self,
        *,
        consecutive_failures: int | None = 5,
        failure_ratio: float | None = 0.5,
        minimum_attempts: int = 20,
        window: float = 10.0,
        break_duration: float = 5.0,
        probes: int = 1,
        on_state_change: TransitionCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        rules = self._rules = Rules(
            consecutive_failures,
            failure_ratio,
            minimum_attempts,
            window,
            break_duration,
            probes,
        )
        self.consecutive_failures = rules.consecutive_failures
        self.failure_ratio = None if failure_ratio is None else float(failure_ratio)
        self.minimum_attempts = minimum_attempts
        self.window = float(window)
        self.break_duration = float(break_duration)
        self.probes = probes
        if not callable(clock):
            raise TypeError(f"clock must be callable, got {clock!r}")
        self._clock = clock
        self._lock = threading.Lock()
        self._circuits: dict[str, Circuit] = {}
        self._epochs = itertools.count(1)
        self._sweep_at = _SWEEP_AT
        self._callbacks: tuple[TransitionCallback, ...] = ()
        #: Exceptions raised by callbacks (each logged, none raised).
        self.callback_errors = 0
        #: Attempts let through, and refused, by `admit` (every origin).
        self.admitted = 0
        self.refused = 0
        if on_state_change is not None:
            self.subscribe(on_state_change)

    # -- observing ------------------------------------------------------------

    def subscribe(self, callback: TransitionCallback) -> None:
        """Call ``callback`` with every transition from now on (outside the breaker's lock).

        It runs in the task or thread whose attempt caused the transition; an
        exception it raises is logged and counted in ``callback_errors``,
        never raised into a request.

        Raises:
            TypeError: ``callback`` is not callable.
        """
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        with self._lock:
            self._callbacks = (*self._callbacks, callback)

    def unsubscribe(self, callback: TransitionCallback) -> None:
        """Stop calling ``callback`` (nothing happens if it was not subscribed)."""
        with self._lock:
            self._callbacks = tuple(c for c in self._callbacks if c != callback)

    def state(self, origin: httpx.URL | str) -> CircuitState:
        """The state of the circuit of ``origin`` (a URL or ``scheme://host:port``).

        An open circuit stays open, here too, until a request after its break
        sends a probe.
        """
        key = origin_of(origin)
        with self._lock:
            circuit = self._circuits.get(key)
            return CLOSED if circuit is None else circuit.state

    def states(self) -> dict[str, CircuitState]:
        """The state of every circuit with something in its books, by origin."""
        with self._lock:
            return {origin: circuit.state for origin, circuit in self._circuits.items()}

    # -- the transports' side -------------------------------------------------

    def admit(self, origin: str, request: httpx.Request | None = None) -> int:
        """Let an attempt to ``origin`` go, or refuse it; return its ticket for `record`.

        Raises:
            CircuitOpenError: The circuit is open, or half-open with every
                probe out.
        """
        with self._lock:
            circuit = self._circuits.get(origin)
            if circuit is None or circuit.state is CLOSED:
                self.admitted += 1
                return 0 if circuit is None else circuit.epoch
            now = self._clock()
            retry_at = circuit.retry_at
            change = None
            refused = now < retry_at and (circuit.state is OPEN or circuit.probes >= self.probes)
            if refused:
                self.refused += 1
            else:
                self.admitted += 1
                if circuit.state is OPEN:  # the break is over
                    epoch = next(self._epochs)
                    change = circuit.move(HALF_OPEN, now, "break_over", epoch, self._rules)
                elif circuit.probes >= self.probes:  # the probes out never answered
                    circuit.epoch = next(self._epochs)  # their outcomes are stale now
                    circuit.probes = 0
                circuit.probes += 1
                circuit.retry_at = now + self.break_duration
            ticket = circuit.epoch
        if refused:
            raise CircuitOpenError(origin, retry_at, retry_at - now, request=request)
        if change is not None:
            self._notify(change)
        return ticket

    def blocked_for(self, origin: str) -> float:
        """Seconds until an attempt to ``origin`` could be admitted; 0.0 if now."""
        with self._lock:
            circuit = self._circuits.get(origin)
            if circuit is None or circuit.state is CLOSED:
                return 0.0
            if circuit.state is HALF_OPEN and circuit.probes < self.probes:
                return 0.0
            return max(0.0, circuit.retry_at - self._clock())

    def record(self, origin: str, ticket: int, healthy: bool | None) -> None:
        """Book the outcome of an attempt `admit` let go: healthy, unhealthy, or None.

        ``ticket`` is what `admit` returned; an outcome from before the
        circuit last changed state is ignored.
        """
        with self._lock:
            circuit = self._circuits.get(origin)
            if circuit is None:
                if healthy is None or ticket:
                    return
                circuit = self._add(origin)
            if ticket != circuit.epoch:  # admitted under an earlier state: stale news
                return
            change = None
            if circuit.state is HALF_OPEN:  # this was a probe
                if healthy is None:
                    circuit.probes -= 1
                else:
                    now = self._clock()
                    state, reason = (
                        (CLOSED, "probe_succeeded") if healthy else (OPEN, "probe_failed")
                    )
                    change = circuit.move(state, now, reason, next(self._epochs), self._rules)
            elif healthy is not None:
                change = circuit.count(healthy, self._clock(), self._rules, self._epochs.__next__)
        if change is not None:
            self._notify(change)

    # -- the books (under the lock) -------------------------------------------

    def _add(self, origin: str) -> Circuit:
        circuits = self._circuits
        if len(circuits) >= self._sweep_at:
            now = self._clock()
            for key, circuit in list(circuits.items()):
                if circuit.state is CLOSED and not circuit.consecutive:
                    circuit.expire(now, self._rules)
                    if not circuit.buckets:
                        del circuits[key]
            self._sweep_at = max(_SWEEP_AT, 2 * len(circuits))
        circuit = circuits[origin] = Circuit(origin)
        return circuit

    def _notify(self, change: CircuitTransition) -> None:
        for callback in self._callbacks:
            try:
                callback(change)
            except Exception:  # observability must never fail a request
                with self._lock:
                    self.callback_errors += 1
                logger.exception("circuit breaker callback %r failed on %r", callback, change)

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker(consecutive_failures={self.consecutive_failures!r}, "
            f"failure_ratio={self.failure_ratio!r}, minimum_attempts={self.minimum_attempts!r}, "
            f"window={self.window!r}, break_duration={self.break_duration!r}, "
            f"probes={self.probes!r})"
        )
