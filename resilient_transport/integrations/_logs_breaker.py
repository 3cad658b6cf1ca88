"""Logging a circuit breaker's transitions: ``logs.attach_breaker`` (re-exported there)."""

from __future__ import annotations

import logging

from resilient_transport._breaker import CircuitBreaker
from resilient_transport._circuit import CircuitState, CircuitTransition

__all__ = ["BreakerLogger", "attach_breaker"]

# logs.DEFAULT_LOGGER (which imports this module).
_DEFAULT_LOGGER = "resilient_transport.events"


_VERBS = {
    CircuitState.OPEN: "opened",
    CircuitState.HALF_OPEN: "is half-open",
    CircuitState.CLOSED: "closed",
}


class BreakerLogger:
    """A breaker callback that logs each transition as one structured record.

    A circuit that opens is logged at ``WARNING`` (requests to it now fail
    at once); half-open and closed at ``INFO``.

    Args:
        logger: The logger, or its name.

    Raises:
        TypeError: ``logger`` is neither a ``logging.Logger`` nor a name.
    """

    __slots__ = ("logger",)

    def __init__(self, logger: logging.Logger | str = _DEFAULT_LOGGER) -> None:
        if isinstance(logger, str):
            logger = logging.getLogger(logger)
        if not isinstance(logger, logging.Logger):
            raise TypeError(f"logger must be a logging.Logger or a name, got {logger!r}")
        self.logger = logger

    def __call__(self, change: CircuitTransition) -> None:
        """Log ``change`` (if its level is enabled)."""
        level = logging.WARNING if change.state is CircuitState.OPEN else logging.INFO
        if not self.logger.isEnabledFor(level):
            return
        after = ""
        if change.retry_at is not None:
            after = f"; next probe in {change.retry_at - change.time:.3f}s"
        self.logger.log(
            level,
            "circuit for %s %s (%s)%s",
            change.origin,
            _VERBS[change.state],
            change.reason,
            after,
            extra={
                "origin": change.origin,
                "circuit_state": change.state.value,
                "previous_state": change.previous.value,
                "circuit_reason": change.reason,
                "retry_at": change.retry_at,
            },
        )

    def __repr__(self) -> str:
        return f"BreakerLogger({self.logger.name!r})"


def attach_breaker(
    breaker: CircuitBreaker, logger: logging.Logger | str = _DEFAULT_LOGGER
) -> BreakerLogger:
    """Log every transition of ``breaker``; return the callback.

    Args:
        breaker: A [`CircuitBreaker`][resilient_transport.CircuitBreaker].
        logger: The logger, or its name.

    Returns:
        The [`BreakerLogger`][] subscribed (``breaker.unsubscribe(it)`` stops it).

    Raises:
        TypeError: ``breaker`` is not a ``CircuitBreaker``, or ``logger`` is wrong.
    """
    if not isinstance(breaker, CircuitBreaker):
        raise TypeError(f"breaker must be a CircuitBreaker, got {breaker!r}")
    callback = BreakerLogger(logger)
    breaker.subscribe(callback)
    return callback
