"""OpenTelemetry tracing: an inner transport that makes one HTTP client span per attempt.

[`TracingTransport`][] wraps the transport that sends, *under* the retry
layer, so that it sees every attempt: each span follows the HTTP client span
conventions, and a resent attempt's span carries
``http.request.resend_count``:

```python
RetryingAsyncTransport(TracingTransport(httpx.AsyncHTTPTransport()))
AsyncResilientClient(transport=TracingTransport())  # the same, in a client
```

The metrics are a monitor callback instead:
[`resilient_transport.integrations.opentelemetry`][].

Needs ``pip install 'resilient-transport[opentelemetry]'`` (the API; you
bring the SDK and exporters you already use).
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

from resilient_transport._context import RequestContext
from resilient_transport._redact import safe_url
from resilient_transport._stack import ASYNC_TRANSPORTS, AsyncBaseTransport, httpx
from resilient_transport._version import __version__
from resilient_transport.integrations._common import (
    OPENTELEMETRY_SCOPE,
    error_text,
    metric_method,
    qualified_name,
    require,
    server_of,
)

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

__all__ = ["TracingTransport"]

_EXTRA = "opentelemetry"

# How url.full shows removed credentials, as the HTTP conventions ask.
_REDACTED_USERINFO = "REDACTED:REDACTED"


class TracingTransport(AsyncBaseTransport):
    """An inner transport wrapper: one OpenTelemetry HTTP client span per attempt.

    Place it *under* the retry layer, so that it sees every attempt:

    ```python
    RetryingAsyncTransport(TracingTransport(httpx.AsyncHTTPTransport()))
    ```

    Each span follows the HTTP client span conventions: named after the
    method, kind ``CLIENT``, with ``http.request.method``, ``server.address``,
    ``server.port``, ``url.full`` (redacted as every URL the library shows,
    see [`resilient_transport.redact_url`][], with credentials as
    ``REDACTED:REDACTED`` as the conventions ask), ``http.response.status_code``
    or ``error.type``, status ``ERROR`` for a failed attempt or a status of
    400 and above, and
    ``http.request.resend_count`` on every attempt after the first. The
    span ends when the response headers have arrived.

    Args:
        transport: The transport that sends; ``None`` means ``httpx.AsyncHTTPTransport()``.
        tracer_provider: Default: the global tracer provider.
        propagate: Inject the trace context (``traceparent``...) into each
            attempt's headers, so the server's span joins this trace.

    Raises:
        ImportError: ``opentelemetry-api`` is not installed.
        TypeError: ``transport`` is not an ``httpx.AsyncBaseTransport``.
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        tracer_provider: TracerProvider | None = None,
        propagate: bool = True,
    ) -> None:
        trace = require("opentelemetry.trace", _EXTRA, __name__)
        self._inject = (
            require("opentelemetry.propagate", _EXTRA, __name__).inject if propagate else None
        )
        if transport is not None and not isinstance(transport, ASYNC_TRANSPORTS):
            raise TypeError(
                f"transport must be an httpx.AsyncBaseTransport or None, got {transport!r}"
            )
        self._transport = httpx.AsyncHTTPTransport() if transport is None else transport
        self._tracer = trace.get_tracer(
            OPENTELEMETRY_SCOPE, __version__, tracer_provider=tracer_provider
        )
        self._client_kind = trace.SpanKind.CLIENT
        self._error = trace.Status(trace.StatusCode.ERROR)
        self._status = trace.Status

    @property
    def transport(self) -> httpx.AsyncBaseTransport:
        """The wrapped transport."""
        return self._transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one attempt inside its own client span."""
        url = request.url
        method = metric_method(request.method)
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "server.address": url.host,
            "server.port": server_of(str(url))[1] if url.port is None else url.port,
            "url.full": safe_url(url, _REDACTED_USERINFO),
        }
        if method == "_OTHER":
            attributes["http.request.method_original"] = request.method
        ctx = request.extensions.get("retry")
        if isinstance(ctx, RequestContext) and ctx.current_attempt:
            attributes["http.request.resend_count"] = ctx.current_attempt
        name = "HTTP" if method == "_OTHER" else method
        with self._tracer.start_as_current_span(
            name,
            kind=self._client_kind,
            attributes=attributes,
            # Done below instead: OpenTelemetry's own recording puts the
            # error's text in the span, and some errors quote a header value.
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            if self._inject is not None:
                self._inject(request.headers)
            try:
                response = await self._transport.handle_async_request(request)
            except BaseException as exc:
                span.set_attribute("error.type", qualified_name(type(exc)))
                if isinstance(exc, Exception):  # not a cancellation: as OpenTelemetry does
                    text = error_text(exc)
                    error_name = type(exc).__name__
                    description = f"{error_name}: {text}" if text else error_name
                    span.set_status(self._status(self._error.status_code, description))
                    if text:
                        span.record_exception(exc)
                raise
            status = response.status_code
            span.set_attribute("http.response.status_code", status)
            version = response.extensions.get("http_version")
            if isinstance(version, bytes) and version.startswith(b"HTTP/"):
                span.set_attribute("network.protocol.version", version[5:].decode("ascii"))
            if status >= 400:
                span.set_attribute("error.type", str(status))
                span.set_status(self._error)
            return response

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._transport.aclose()

    async def __aenter__(self) -> TracingTransport:
        await self._transport.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self._transport.__aexit__(exc_type, exc_value, traceback)

    def __repr__(self) -> str:
        return f"TracingTransport({self._transport!r})"
