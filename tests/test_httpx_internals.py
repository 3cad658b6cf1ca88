"""What ``resilient_transport._httpx_client`` relies on in httpx's private state, pinned.

httpx keeps the transports a client sends through in ``client._transport``
and ``client._mounts`` (see that module for why they are read). These tests
pin that behaviour of the installed httpx: the attributes hold exactly the
transports given or built, and requests route through what is put back. A
new httpx that changes either fails here, not in a user's proxied request.
"""

from __future__ import annotations

import httpx
import pytest

from resilient_transport._httpx_client import replace_transports, transports_of

pytestmark = pytest.mark.anyio

PROXY = "http://127.0.0.1:9"
PROXY_VARIABLES = ("ALL_PROXY", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200)


class Replacement(httpx.AsyncBaseTransport):
    """Answers in place of the transport it replaced, and books which one that was."""

    def __init__(self, replaced: httpx.AsyncBaseTransport, seen: list[object]) -> None:
        self.replaced = replaced
        self.seen = seen

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((self.replaced, request.url.host))
        return httpx.Response(200)


def test_the_transport_given_is_the_default_transport() -> None:
    given = httpx.MockTransport(answer)
    client = httpx.AsyncClient(transport=given)
    assert client._transport is given
    assert client._mounts == {}
    assert transports_of(client) == [given]


def test_mounts_are_kept_in_order_with_none_for_a_mount_without_a_transport() -> None:
    special = httpx.MockTransport(answer)
    client = httpx.AsyncClient(mounts={"http://special.test": special, "http://plain.test": None})
    patterns = {pattern.pattern: transport for pattern, transport in client._mounts.items()}
    assert patterns == {"http://special.test": special, "http://plain.test": None}
    assert transports_of(client) == [client._transport, special, None]


def test_a_proxy_is_a_transport_mounted_for_every_url() -> None:
    client = httpx.AsyncClient(proxy=PROXY)
    [(pattern, proxied)] = client._mounts.items()
    assert pattern.pattern == "all://"
    assert isinstance(proxied, httpx.AsyncHTTPTransport)
    assert proxied is not client._transport


def test_proxy_variables_are_mounts_and_no_proxy_a_mount_without_a_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", PROXY)
    monkeypatch.setenv("NO_PROXY", "direct.test")
    client = httpx.AsyncClient()
    mounts = {pattern.pattern: transport for pattern, transport in client._mounts.items()}
    assert isinstance(mounts.pop("http://"), httpx.AsyncHTTPTransport)
    assert list(mounts.values()) == [None]  # direct.test: no proxy
    assert httpx.AsyncClient(trust_env=False)._mounts == {}


async def test_requests_route_through_the_replaced_transports() -> None:
    default = httpx.MockTransport(answer)
    special = httpx.MockTransport(answer)
    client = httpx.AsyncClient(
        transport=default, mounts={"http://special.test": special, "http://plain.test": None}
    )
    seen: list[object] = []
    replace_transports(client, lambda transport: Replacement(transport, seen))
    assert [None if t is None else type(t) for t in transports_of(client)] == [
        Replacement,
        Replacement,
        None,
    ]
    async with client:
        for host in ("other.test", "special.test", "plain.test"):
            await client.get(f"http://{host}/")
    assert seen == [(default, "other.test"), (special, "special.test"), (default, "plain.test")]


async def test_proxied_requests_route_through_the_replaced_proxy_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", PROXY)
    monkeypatch.setenv("NO_PROXY", "direct.test")
    from_variables = httpx.AsyncClient()
    proxied = httpx.AsyncClient(proxy=PROXY)
    for client in (from_variables, proxied):
        default = client._transport
        proxy = next(t for t in client._mounts.values() if t is not None)
        seen: list[object] = []

        def replace(transport: httpx.AsyncBaseTransport, seen: list[object] = seen) -> Replacement:
            return Replacement(transport, seen)

        replace_transports(client, replace)
        async with client:
            await client.get("http://service.test/")
            await client.get("http://direct.test/")
        expected = proxy if client is proxied else default  # proxy= ignores NO_PROXY
        assert seen == [(proxy, "service.test"), (expected, "direct.test")]
