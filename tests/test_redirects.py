"""Redirects: every hop httpx follows is a request of its own for the retry layer.

httpx builds each redirect hop with the previous request's ``extensions``, so
the transport must hand back the request's extensions as it found them: the
next hop then starts from the caller's own ``"retry"`` value (a context, a dict
or nothing), not from the previous hop's spent context.
"""

from __future__ import annotations

import httpx
import pytest

from resilient_transport import RequestContext, RetryingAsyncTransport
from resilient_transport.testing import RecordingSleep, ScriptedTransport

from ._support import URL

pytestmark = pytest.mark.anyio


def hop_script() -> ScriptedTransport:
    moved = httpx.Response(302, headers={"Location": "http://service.test/next"})
    return ScriptedTransport(httpx.ConnectError("a"), moved, httpx.ConnectError("b"), 200)


@pytest.mark.parametrize(
    "retry",
    [None, {"max_retries": 1}, RequestContext(max_retries=1, request_id="mine")],
    ids=["defaults", "dict", "context"],
)
async def test_each_redirect_hop_gets_its_own_retries(retry: object) -> None:
    inner = hop_script()
    transport = RetryingAsyncTransport(inner, max_retries=1, sleep=RecordingSleep())
    async with httpx.AsyncClient(transport=transport, follow_redirects=True) as client:
        response = await client.get(URL, extensions={"retry": retry})
    assert response.status_code == 200
    assert inner.calls == 4
    contexts = [c for c in inner.contexts if c is not None]
    assert [c.current_attempt for c in contexts] == [0, 1, 0, 1]
    assert response.extensions["retry"].current_attempt == 1
    assert [str(r.url) for r in response.history] == [URL]
    ids = [c.request_id for c in contexts]
    assert ids[0] == ids[1] and ids[2] == ids[3]
    if isinstance(retry, RequestContext):
        assert set(ids) == {"mine"}  # the caller's context, used as given on each hop
    else:
        assert ids[0] != ids[2]  # fresh defaults per hop


async def test_the_request_keeps_the_callers_extensions_after_the_transport() -> None:
    inner = ScriptedTransport(httpx.ConnectError("a"), 200)
    transport = RetryingAsyncTransport(inner, sleep=RecordingSleep())
    ctx = RequestContext(request_id="mine")
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get(URL, extensions={"retry": ctx})
    assert response.request.extensions["retry"] is ctx
    assert response.extensions["retry"].current_attempt == 1


async def test_the_request_keeps_the_callers_extensions_after_a_failure() -> None:
    inner = ScriptedTransport(httpx.ConnectError("a"), httpx.ConnectError("b"))
    transport = RetryingAsyncTransport(inner, max_retries=1, sleep=RecordingSleep())
    async with httpx.AsyncClient(transport=transport) as client:
        request = client.build_request("GET", URL)
        with pytest.raises(httpx.ConnectError):
            await client.send(request)
    assert "retry" not in request.extensions
