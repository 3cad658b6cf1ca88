"""A fast inner transport for httpx, backed by aiohttp (asyncio only).

httpx's own transport spends most of its time in its connection pool and in
pure-Python HTTP parsing; at high concurrency that caps a client at a few
hundred requests a second on loopback (``docs/benchmarks.md`` measures it).
[`AiohttpTransport`][] sends the requests through aiohttp instead, and
keeps everything else httpx: the client, its API, its response objects, and
the retry layer on top:

```python
import httpx

from resilient_transport import RetryingAsyncTransport
from resilient_transport.transports.aiohttp import AiohttpTransport

transport = RetryingAsyncTransport(AiohttpTransport(), max_retries=2)
async with httpx.AsyncClient(transport=transport) as client:
    response = await client.get("https://example.org/")
```

What reaches the retry layer is what httpx's own transport would raise, so
the retry policy is the same over both: a refused, unreachable or unresolved
connection is an ``httpx.ConnectError`` (retried), a connect timeout an
``httpx.ConnectTimeout``, a read timeout an ``httpx.ReadTimeout``, a
connection that breaks after the request an ``httpx.ReadError``,
``httpx.WriteError`` or ``httpx.RemoteProtocolError`` (not retried by
default), and a failed certificate check an ``httpx.ConnectError`` whose
``__cause__`` chain holds the ``ssl.SSLCertVerificationError`` (never
retried). aiohttp's own silent resend of an idempotent request over a broken
connection is turned off on the session the transport makes, so that every
attempt is the retry layer's to count and decide.

Needs ``pip install 'resilient-transport[aiohttp]'``. asyncio only: aiohttp
does not run on trio.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from resilient_transport._stack import AsyncBaseTransport, httpx, of_every_stack, stack_of
from resilient_transport.integrations._common import require

from ._aiohttp_compat import ResponseStream, httpx_error, iterate

if TYPE_CHECKING:  # pragma: no cover
    import aiohttp
    import yarl
else:
    aiohttp = require("aiohttp", "aiohttp", __name__)
    yarl = require("yarl", "aiohttp", __name__)  # installed with aiohttp
    if not hasattr(aiohttp, "ConnectionTimeoutError"):  # pragma: no cover
        raise ImportError(
            f"{__name__} needs aiohttp>=3.10, found "
            f"{aiohttp.__version__}: pip install 'resilient-transport[aiohttp]'"
        )

__all__ = ["DEFAULT_LIMITS", "AiohttpTransport"]

#: httpx's default pool limits. aiohttp keeps every idle connection alive, so
#: ``max_keepalive_connections`` has no equivalent and is not used.
#: httpx's and httpx2's Limits; a body not read yet, in either.
LIMITS: tuple[type[httpx.Limits], ...] = of_every_stack("Limits")
REQUEST_NOT_READ = of_every_stack("RequestNotRead")

DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)

_NOT_ASYNCIO = (
    "AiohttpTransport runs on asyncio only (aiohttp does not support trio); "
    "use httpx.AsyncHTTPTransport() as the inner transport on trio"
)
# Headers aiohttp adds on its own when absent. httpx sets the ones it wants;
# one the caller removed must stay removed, so aiohttp is told to skip it.
_AUTO_HEADERS = frozenset({b"accept", b"accept-encoding", b"user-agent", b"content-type"})
_BODY_HEADERS = frozenset({b"content-type"})  # only added along with a body
# aiohttp's default header size limits are half of h11's; keep httpx's.
_MAX_FIELD_SIZE = 16_384
# Distinct timeout settings remembered; a program uses a handful.
_TIMEOUT_CACHE_SIZE = 64
# Parsed URLs remembered: a client calls the same few URLs again and again.
_URL_CACHE_SIZE = 256


class AiohttpTransport(AsyncBaseTransport):
    """An httpx transport that sends requests with aiohttp; asyncio only.

    Use it as the inner transport of a
    [`RetryingAsyncTransport`][resilient_transport.RetryingAsyncTransport] (or on its own, in
    an ``httpx.AsyncClient``). Response bodies are streamed: ``client.stream()``
    and ``response.aiter_bytes()`` work as with httpx's own transport, and
    content decoding stays httpx's.

    Either give it an ``aiohttp.ClientSession`` of your own (used as is, and
    left open by [`aclose`][]: its owner closes it), or let it make one
    from ``verify`` and ``limits`` on the first request (closed by
    [`aclose`][]). The session it makes keeps no cookies (httpx's client
    does that), adds no headers httpx did not send, follows no redirects and
    decompresses nothing (httpx does both), and never resends a request by
    itself.

    The request's httpx timeouts apply: ``connect`` to establishing the
    connection, ``read`` to each wait for data, ``pool`` (added to
    ``connect``) to waiting for a free connection. aiohttp has no write
    timeout. HTTP/1.1 only.

    Args:
        session: An open ``aiohttp.ClientSession`` to send through, or ``None``.
        verify: ``True`` (verify certificates against httpx's CA bundle),
            ``False`` (do not verify), or an ``ssl.SSLContext``. Only without
            ``session``; default ``True``.
        limits: Pool limits; ``max_connections`` caps the connections open at
            once (``None``: no cap) and ``keepalive_expiry`` how long an idle
            one is kept. Only without ``session``; default httpx's.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: ``verify`` or ``limits`` is given with ``session``.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        verify: ssl.SSLContext | bool | None = None,
        limits: httpx.Limits | None = None,
    ) -> None:
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise TypeError(f"session must be an aiohttp.ClientSession or None, got {session!r}")
        if verify is not None and not isinstance(verify, (bool, ssl.SSLContext)):
            raise TypeError(f"verify must be a bool or an ssl.SSLContext, got {verify!r}")
        if limits is not None and not isinstance(limits, LIMITS):
            raise TypeError(f"limits must be an httpx.Limits, got {limits!r}")
        if session is not None and (verify is not None or limits is not None):
            raise ValueError(
                "verify and limits configure the session the transport makes; "
                "with session= configure your session instead"
            )
        self._session = session
        self._owns_session = session is None
        self._verify: ssl.SSLContext | bool = True if verify is None else verify
        self._limits = DEFAULT_LIMITS if limits is None else limits
        self._timeouts: dict[tuple[Any, ...], aiohttp.ClientTimeout] = {}
        self._urls: dict[str, yarl.URL] = {}
        self._closed = False

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("this AiohttpTransport is closed")
        verify = self._verify
        context = (
            verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify)
        )
        limits = self._limits
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections or 0,
            limit_per_host=0,
            keepalive_timeout=limits.keepalive_expiry,
            ssl=context,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            max_line_size=_MAX_FIELD_SIZE,
            max_field_size=_MAX_FIELD_SIZE,
        )
        # aiohttp resends an idempotent request once, silently, when its
        # connection breaks; the retry layer must see every attempt, and
        # httpx's transport does not do it either.
        if hasattr(session, "_retry_connection"):  # pragma: no branch - aiohttp 3.10+
            session._retry_connection = False
        self._session = session
        return session

    def _timeout(self, timeouts: Mapping[str, Any] | None) -> aiohttp.ClientTimeout:
        if not timeouts:
            key: tuple[Any, ...] = (None, None, None)
        else:
            key = (timeouts.get("connect"), timeouts.get("read"), timeouts.get("pool"))
        timeout = self._timeouts.get(key)
        if timeout is None:
            connect, read, pool = key
            timeout = aiohttp.ClientTimeout(
                total=None,
                connect=None if connect is None or pool is None else connect + pool,
                sock_connect=connect,
                sock_read=read,
            )
            if len(self._timeouts) >= _TIMEOUT_CACHE_SIZE:
                self._timeouts.clear()
            self._timeouts[key] = timeout
        return timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through aiohttp; return the response with its body unread."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(_NOT_ASYNCIO) from None
        session = self._session
        if session is None:
            session = self._open()

        raw = request.headers.raw
        try:
            headers = [(key.decode("ascii"), value.decode()) for key, value in raw]
        except UnicodeDecodeError:
            # aiohttp takes headers as text and sends them UTF-8 encoded: other
            # bytes cannot be sent as they are, and are not sent changed.
            raise stack_of(request)[0].LocalProtocolError(
                "AiohttpTransport sends header names in ASCII and values in UTF-8 only; "
                f"this request has other bytes: {raw!r}",
                request=request,
            ) from None
        names = {key.lower() for key, _ in raw}

        data: bytes | AsyncIterator[bytes] | None
        try:
            data = request.content or None
        except REQUEST_NOT_READ:
            # A streamed body: aiohttp frames it itself (chunked, or by the
            # Content-Length the caller gave), so httpx's framing header goes.
            data = iterate(request.stream)  # type: ignore[arg-type]
            if b"transfer-encoding" in names:
                headers = [(k, v) for k, v in headers if k.lower() != "transfer-encoding"]
        skip = _AUTO_HEADERS.difference(names)
        if skip and data is None:
            skip = skip.difference(_BODY_HEADERS)

        text = str(request.url)
        url = self._urls.get(text)
        if url is None:
            # Already percent-encoded by httpx: yarl must not encode it again.
            url = yarl.URL(text, encoded=True)
            if len(self._urls) >= _URL_CACHE_SIZE:
                self._urls.clear()
            self._urls[text] = url

        try:
            response = await session.request(
                request.method,
                url,
                headers=headers,
                data=data,
                skip_auto_headers=[name.decode() for name in skip] if skip else None,
                allow_redirects=False,
                auto_decompress=False,
                raise_for_status=False,
                timeout=self._timeout(request.extensions.get("timeout")),
                server_hostname=request.extensions.get("sni_hostname"),
            )
        except Exception as exc:
            raise httpx_error(exc, request) from exc

        version = response.version
        answer: httpx.Response = stack_of(request)[0].Response(
            response.status,
            headers=response.raw_headers,
            stream=ResponseStream(response, request),
            extensions={
                "http_version": b"HTTP/1.1"
                if version is None or version == (1, 1)
                else f"HTTP/{version.major}.{version.minor}".encode(),
                "reason_phrase": (response.reason or "").encode("ascii", "replace"),
            },
        )
        return answer

    async def aclose(self) -> None:
        """Close the session the transport made; one passed in is left to its owner.

        The transport cannot be used afterwards.
        """
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

    def __repr__(self) -> str:
        owner = "own session" if self._owns_session else f"session={self._session!r}"
        return f"{type(self).__name__}({owner})"
