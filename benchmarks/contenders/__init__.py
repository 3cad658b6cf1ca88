"""The contenders: one factory per client stack, all driven the same way.

Each factory is an async context manager that takes an :class:`Env` and
yields a :class:`Runtime` (see :mod:`contenders.common`); the httpx-based
ones are in :mod:`contenders.httpx_family`, the aiohttp-based ones in
:mod:`contenders.aiohttp_family`.
"""

from __future__ import annotations

from .aiohttp_family import (
    aiohttp_retry,
    httpx_aiohttp,
    plain_aiohttp,
    rt_aiohttp,
    rt_httpx_aiohttp,
)
from .common import Env, Factory, Runtime, aiohttp_transport_class
from .httpx2_family import bare_httpx2, rt_httpx2
from .httpx_family import (
    bare_httpx,
    default_httpx,
    httpx_retries,
    rt,
    rt_events,
    stamina_,
    tenacity_,
)

__all__ = [
    "AIOHTTP_FAMILY",
    "CONTENDERS",
    "HTTPX2_FAMILY",
    "HTTPX_FAMILY",
    "RETRYING",
    "Env",
    "Factory",
    "Runtime",
    "aiohttp_transport_class",
]

#: Every contender, by the name used on the command line.
CONTENDERS: dict[str, Factory] = {
    "httpx": bare_httpx,
    "httpx-default": default_httpx,
    "rt": rt,
    "rt-events": rt_events,
    "httpx-retries": httpx_retries,
    "tenacity": tenacity_,
    "stamina": stamina_,
    "aiohttp": plain_aiohttp,
    "aiohttp-retry": aiohttp_retry,
    "rt-aiohttp": rt_aiohttp,
    "httpx-aiohttp": httpx_aiohttp,
    "rt-httpx-aiohttp": rt_httpx_aiohttp,
    "httpx2": bare_httpx2,
    "rt-httpx2": rt_httpx2,
}

#: Contenders that retry (the others make one attempt whatever ``retries`` says).
RETRYING = frozenset(
    {
        "rt",
        "rt-events",
        "httpx-retries",
        "tenacity",
        "stamina",
        "aiohttp-retry",
        "rt-aiohttp",
        "rt-httpx-aiohttp",
        "rt-httpx2",
    }
)

#: The httpx-based contenders every in-process scenario runs.
HTTPX_FAMILY = ["httpx", "rt", "rt-events", "httpx-retries", "tenacity", "stamina"]
#: aiohttp, with and without retries, and this library over aiohttp.
AIOHTTP_FAMILY = ["aiohttp", "aiohttp-retry", "rt-aiohttp"]
#: httpx2, bare and under this library (skipped where it is not installed).
HTTPX2_FAMILY = ["httpx2", "rt-httpx2"]
