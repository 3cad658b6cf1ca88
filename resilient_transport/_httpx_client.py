"""The one place that reaches into httpx's private state, pinned by tests/test_httpx_internals.py.

Why: every transport an ``httpx.AsyncClient`` sends through must retry —
the one of ``transport=`` (or the default httpx builds), those of
``mounts=``, and those httpx builds itself for ``proxy=`` and for the proxy
environment variables (``trust_env``). httpx builds the last ones inside
``AsyncClient.__init__`` and offers no public way to reach them, so
`AsyncResilientClient` and `simple_async_request` wrap them after the fact,
in the two attributes where httpx keeps them:

- ``client._transport``: the transport of any URL that no mount matches;
- ``client._mounts``: ``{URLPattern: transport or None}``, the most specific
  pattern first; ``None`` (a ``mounts=`` entry, or ``NO_PROXY``) sends that
  URL through ``client._transport``.

Both have been there, with this meaning, since httpx 0.18 (``mounts=``) and
are relied on for the httpx versions this package supports (``httpx>=0.27,
<0.29``, as pyproject.toml requires). The test module pins exactly what is
relied on: what the attributes hold for ``transport=``, ``mounts=``,
``proxy=`` and proxy variables, and that requests route through what is put
back; an httpx that changes either fails there first.
"""

from __future__ import annotations

from collections.abc import Callable

from ._stack import httpx

__all__ = ["replace_transports", "transports_of"]


def transports_of(client: httpx.AsyncClient) -> list[httpx.AsyncBaseTransport | None]:
    """The transports ``client`` sends through: its default one, then each mount's.

    A mount's ``None`` (no transport of its own: the default one serves it)
    is kept, in its place.
    """
    return [client._transport, *client._mounts.values()]


def replace_transports(
    client: httpx.AsyncClient,
    replace: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport],
) -> None:
    """Put ``replace(transport)`` in place of every transport ``client`` sends through.

    The default transport and each mount's (``None`` stays ``None``); the
    URL patterns, and so the routing of each URL, are unchanged.
    """
    client._transport = replace(client._transport)
    client._mounts = {
        pattern: None if transport is None else replace(transport)
        for pattern, transport in client._mounts.items()
    }
