"""aiohttp's results as httpx's: its errors as httpx exceptions, its bodies as httpx streams.

What ``AiohttpTransport`` needs
to hand the retry layer exactly what httpx's own transport would.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from types import ModuleType
from typing import TYPE_CHECKING, cast

from resilient_transport._stack import AsyncByteStream, httpx, stack_of
from resilient_transport.integrations._common import require

if TYPE_CHECKING:  # pragma: no cover
    import aiohttp
else:
    aiohttp = require("aiohttp", "aiohttp", "resilient_transport.transports.aiohttp")

__all__ = ["ResponseStream", "httpx_error", "httpx_error_type", "iterate"]


def _error_name(exc: Exception) -> str:
    """The name of the httpx exception type that stands for aiohttp's ``exc``.

    The order matters: aiohttp's hierarchy nests a connect failure inside
    ``ClientConnectionError`` and a connect timeout inside the read timeout's
    base class, so the most specific classes come first.
    """
    if isinstance(exc, aiohttp.ClientConnectorError):
        # Refused, unreachable, DNS, TLS handshake and certificate failures,
        # and a proxy that cannot be reached: nothing was sent.
        return "ConnectError"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return "ConnectTimeout"
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return "ReadTimeout"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        # httpcore says the same: "Server disconnected without sending a response."
        return "RemoteProtocolError"
    if isinstance(exc, aiohttp.ClientConnectionResetError):
        return "WriteError"
    if isinstance(exc, (aiohttp.ClientOSError, aiohttp.ClientConnectionError)):
        return "ReadError"
    if isinstance(exc, aiohttp.ClientPayloadError):
        # A body cut short or badly framed.
        return "RemoteProtocolError"
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return "ProxyError"
    if isinstance(exc, aiohttp.ClientResponseError):
        # aiohttp reports a malformed status line or header block this way.
        return "RemoteProtocolError"
    if isinstance(exc, (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)):
        return "UnsupportedProtocol"
    if isinstance(exc, asyncio.TimeoutError):
        return "TimeoutException"
    if isinstance(exc, OSError):
        return "ReadError"
    return "TransportError"


def httpx_error_type(exc: Exception, package: ModuleType = httpx) -> type[httpx.TransportError]:
    """The exception type of ``package`` (httpx or httpx2) that stands for aiohttp's ``exc``."""
    return cast("type[httpx.TransportError]", getattr(package, _error_name(exc)))


def httpx_error(exc: Exception, request: httpx.Request) -> httpx.TransportError:
    """Return the exception of ``request``'s stack (httpx's or httpx2's) to raise ``from exc``."""
    package = stack_of(request)[0]
    if isinstance(exc, aiohttp.ServerFingerprintMismatch):
        # A pinned certificate did not match: a certificate failure, which
        # the retry policy recognises by the ssl error in the cause chain.
        mismatch = ssl.SSLCertVerificationError(str(exc))
        mismatch.__cause__ = exc
        error: httpx.TransportError = package.ConnectError(str(exc), request=request)
        error.__cause__ = mismatch
        return error
    return httpx_error_type(exc, package)(str(exc) or repr(exc), request=request)


class ResponseStream(AsyncByteStream):
    """The body of an aiohttp response, streamed as httpx expects."""

    __slots__ = ("_request", "_response")

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _Chunks(self._response.content, self._request)

    async def aclose(self) -> None:
        # Returns the connection to the pool if the body was read to its end;
        # closes it otherwise.
        self._response.release()


class _Chunks:
    """Iterates a response body: an iterator object, not an async generator,
    which the event loop would have to track and finalise for every response."""

    __slots__ = ("_content", "_done", "_request")

    def __init__(self, content: aiohttp.StreamReader, request: httpx.Request) -> None:
        self._content = content
        self._request = request
        self._done = False

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        content = self._content
        try:
            if content.is_eof():
                # The rest of the body has arrived (all of a small one does,
                # with the headers): hand it over in one piece, without waiting.
                self._done = True
                chunk = content.read_nowait()
            else:
                chunk = await content.readany()
        except Exception as exc:
            self._done = True
            raise httpx_error(exc, self._request) from exc
        if not chunk:
            self._done = True
            raise StopAsyncIteration
        return chunk


async def iterate(stream: httpx.AsyncByteStream) -> AsyncIterator[bytes]:
    """The chunks of an httpx request body, as the async iterator aiohttp sends."""
    async for chunk in stream:
        yield chunk
