"""Inner transports, to put under the retry layer; each is opt-in.

Nothing here is imported by ``import resilient_transport``, and each module
needs an optional dependency, failing with an ``ImportError`` that names the
extra to install.

- ``resilient_transport.transports.aiohttp``: ``AiohttpTransport``, a
  fast aiohttp-backed transport for high concurrency on asyncio
  (``pip install 'resilient-transport[aiohttp]'``).
- ``resilient_transport.transports.opentelemetry``: ``TracingTransport``,
  one OpenTelemetry HTTP client span per attempt, with
  ``http.request.resend_count`` on each resent one
  (``pip install 'resilient-transport[opentelemetry]'``).

Each is an ``httpx.AsyncBaseTransport``: give it to a
``RetryingAsyncTransport``, or as ``transport=`` to
an ``AsyncResilientClient``, which wraps it:

```python
from resilient_transport import RetryingAsyncTransport
from resilient_transport.transports.aiohttp import AiohttpTransport

transport = RetryingAsyncTransport(AiohttpTransport(), max_retries=2)
```
"""
