"""Integrations with the tools you already run; each is opt-in.

Nothing here is imported by ``import resilient_transport``, and each module
imports its optional dependency only when you use it, failing with an
``ImportError`` that names the extra to install.

- :mod:`resilient_transport.integrations.logging`: structured stdlib
  ``logging`` of every event (no extra needed).
- :mod:`resilient_transport.integrations.opentelemetry`: OpenTelemetry
  metrics for retries, give-ups and retry delays, and one HTTP client span
  per attempt with ``http.request.resend_count``
  (``pip install 'resilient-transport[opentelemetry]'``).
- :mod:`resilient_transport.integrations.prometheus`: ``prometheus_client``
  counters for retries and outcomes, and a retry-delay histogram
  (``pip install 'resilient-transport[prometheus]'``).
- :mod:`resilient_transport.integrations.aiohttp`: ``AiohttpTransport``, a
  fast aiohttp-backed inner transport for high concurrency on asyncio
  (``pip install 'resilient-transport[aiohttp]'``).

The first three plug into an :class:`~resilient_transport.EventMonitor` or
an :class:`~resilient_transport.AsyncResilientClient` in one line:

```python
from resilient_transport.integrations.logging import instrument

instrument(client)  # or instrument(monitor)
```
"""
