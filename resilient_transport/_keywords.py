"""The conveniences' keywords: passed on only when given; the retry ones checked, then applied.

`AsyncResilientClient`, `create_async_resilient_client` and
`simple_async_request` spell out every keyword they take, typed, with the
default `NOT_GIVEN`: a keyword left out reaches neither the transport nor
httpx, so their own defaults apply, whatever they are or become.
"""

from __future__ import annotations

import enum
from typing import Any, Final

from anyio.abc import ObjectSendStream
from anyio.streams.memory import MemoryObjectSendStream

from ._events import AsyncEvent
from ._httpx_client import replace_transports
from ._stack import httpx
from ._transport import RetryingAsyncTransport

__all__ = ["NOT_GIVEN", "NotGiven", "RetryKeywords", "given"]


class NotGiven(enum.Enum):
    """The type of `NOT_GIVEN`."""

    NOT_GIVEN = "NOT_GIVEN"

    def __repr__(self) -> str:
        return "NOT_GIVEN"


#: The default of the keywords that the conveniences pass on only when they
#: are given, so that the default of the transport (or of httpx) applies,
#: whatever it is.
NOT_GIVEN: Final = NotGiven.NOT_GIVEN


def given(**keywords: Any) -> dict[str, Any]:
    """The keywords given a value (other than `NOT_GIVEN`)."""
    return {name: value for name, value in keywords.items() if value is not NOT_GIVEN}


class RetryKeywords:
    """The retry keywords a convenience was given: checked at once, then applied to transports.

    Only the keywords given reach `RetryingAsyncTransport`; bad values raise
    here, before httpx builds anything (the transport's own checks, so the
    same messages).

    Raises:
        TypeError: A keyword has the wrong type.
        ValueError: A keyword has a wrong value.
    """

    __slots__ = ("_keywords",)

    def __init__(self, **keywords: Any) -> None:
        self._keywords = given(**keywords)
        self.wrap(httpx.AsyncBaseTransport())

    def wrap(
        self,
        transport: httpx.AsyncBaseTransport,
        *,
        events: ObjectSendStream[AsyncEvent] | NotGiven = NOT_GIVEN,
    ) -> RetryingAsyncTransport:
        """``transport`` in a `RetryingAsyncTransport` made with the keywords given."""
        return RetryingAsyncTransport(transport, **given(events=events), **self._keywords)

    def wrap_client(
        self,
        client: httpx.AsyncClient,
        *,
        events: MemoryObjectSendStream[AsyncEvent] | None = None,
    ) -> list[RetryingAsyncTransport]:
        """Wrap every transport ``client`` sends through; return the wrappers made.

        Including those of ``mounts=`` and proxies. A transport that already
        is a `RetryingAsyncTransport` is left as it is. With ``events``, each
        wrapper gets a clone of it (and owns it: closing the wrappers closes
        the stream).
        """
        made: list[RetryingAsyncTransport] = []

        def wrap(transport: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
            if isinstance(transport, RetryingAsyncTransport):
                return transport
            made.append(
                self.wrap(transport, events=NOT_GIVEN if events is None else events.clone())
            )
            return made[-1]

        replace_transports(client, wrap)
        return made
