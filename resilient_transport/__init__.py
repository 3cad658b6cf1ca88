"""resilient_transport: a drop-in httpx transport that retries what is safe to retry."""

from ._adaptive import AdaptiveRetryBudget
from ._backoff import backoff_delay
from ._breaker import CircuitBreaker
from ._budget import RetryBudget
from ._circuit import CircuitOpenError, CircuitState, CircuitTransition
from ._classify import IDEMPOTENT_METHODS, DeadlineExceeded, FailureKind, classify_error
from ._client import AsyncResilientClient, create_async_resilient_client
from ._context import RequestContext
from ._decision import GiveUpReason
from ._events import AsyncEvent, EventType
from ._monitor import EventCallback, EventMonitor
from ._redact import (
    DEFAULT_REDACTED_QUERY_KEYS,
    redact_url,
    redacted_query_keys,
    set_redacted_query_keys,
)
from ._results import RequestResult
from ._simple_request import simple_async_request
from ._sync_events import EventQueue
from ._sync_monitor import SyncEventMonitor
from ._sync_transport import RetryingTransport
from ._transport import RetryingAsyncTransport
from ._version import __version__

__all__ = [
    "AdaptiveRetryBudget",
    "AsyncEvent",
    "AsyncResilientClient",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "CircuitTransition",
    "DEFAULT_REDACTED_QUERY_KEYS",
    "DeadlineExceeded",
    "EventCallback",
    "EventMonitor",
    "EventQueue",
    "EventType",
    "FailureKind",
    "GiveUpReason",
    "IDEMPOTENT_METHODS",
    "RequestContext",
    "RequestResult",
    "RetryBudget",
    "RetryingAsyncTransport",
    "RetryingTransport",
    "SyncEventMonitor",
    "__version__",
    "backoff_delay",
    "classify_error",
    "create_async_resilient_client",
    "redact_url",
    "redacted_query_keys",
    "set_redacted_query_keys",
    "simple_async_request",
]

# Public objects present themselves as resilient_transport.X (reprs, docs,
# pickles), not as the private module that happens to define them.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) or callable(_value):
        _value.__module__ = __name__
del _name, _value
