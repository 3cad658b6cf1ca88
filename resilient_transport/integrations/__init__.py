"""Observability sinks for the events of the tools you already run; each is opt-in.

Nothing here is imported by ``import resilient_transport``, and each module
imports its optional dependency only when you use it, failing with an
``ImportError`` that names the extra to install.

- ``resilient_transport.integrations.logs``: structured stdlib
  ``logging`` of every event (no extra needed).
- ``resilient_transport.integrations.opentelemetry``: OpenTelemetry
  metrics for retries, give-ups and retry delays
  (``pip install 'resilient-transport[opentelemetry]'``).
- ``resilient_transport.integrations.prometheus``: ``prometheus_client``
  counters for retries and outcomes, and a retry-delay histogram
  (``pip install 'resilient-transport[prometheus]'``).

Each plugs into an ``EventMonitor`` or an
``AsyncResilientClient`` in one line:

```python
from resilient_transport.integrations.logs import instrument

instrument(client)  # or instrument(monitor)
```

Inner transports (aiohttp, a span per attempt) are in
``resilient_transport.transports``.
"""
