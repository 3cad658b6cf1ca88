"""The URL redaction rule at its edges (the secrets check is in reliability/test_security.py)."""

from __future__ import annotations

import pytest

from resilient_transport import redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # A "?" inside the fragment starts no query: nothing to redact.
        ("http://h/p#frag?token=x", "http://h/p#frag?token=x"),
        # No "//": no authority, so an "@" is no userinfo; the query still counts.
        ("user@host/x?token=1", "user@host/x?token=REDACTED"),
        ("mailto:a@b", "mailto:a@b"),
        # "//" that does not follow a scheme is no authority either.
        ("not a scheme//u:p@h/", "not a scheme//u:p@h/"),
    ],
)
def test_strings_without_an_authority_or_query_keep_what_is_not_secret(
    url: str, shown: str
) -> None:
    assert redact_url(url) == shown


# -- the URL text of events, remembered per URL -------------------------------------


def test_an_event_url_is_the_safe_url_and_is_remembered_for_the_same_url() -> None:
    import httpx

    from resilient_transport._redact import _event_urls, event_url

    first = httpx.URL("http://user:secret@127.0.0.1:8000/x?token=t&page=2")
    text = event_url(first)
    assert text == "http://127.0.0.1:8000/x?token=REDACTED&page=2"
    # Another request to the same URL: another URL object, the same text.
    again = httpx.URL("http://user:secret@127.0.0.1:8000/x?token=t&page=2")
    assert again is not first
    assert event_url(again) is text
    # A URL that differs in any part has its own text.
    assert event_url(httpx.URL("http://127.0.0.1:8000/x?token=t&page=3")).endswith("page=3")
    assert len(_event_urls) <= 256


def test_new_redacted_keys_forget_the_event_urls_made_under_the_old_ones() -> None:
    import httpx

    from resilient_transport import DEFAULT_REDACTED_QUERY_KEYS, set_redacted_query_keys
    from resilient_transport._redact import _event_urls, event_url

    url = httpx.URL("http://127.0.0.1:8000/x?session_id=s")
    assert event_url(url) == "http://127.0.0.1:8000/x?session_id=s"
    previous = set_redacted_query_keys(DEFAULT_REDACTED_QUERY_KEYS | {"session_id"})
    try:
        assert not _event_urls  # what was made under the old keys is let go
        assert event_url(url) == "http://127.0.0.1:8000/x?session_id=REDACTED"
    finally:
        set_redacted_query_keys(previous)
    assert event_url(url) == "http://127.0.0.1:8000/x?session_id=s"


def test_the_remembered_event_urls_are_bounded() -> None:
    import httpx

    from resilient_transport._redact import _EVENT_URLS_MAX, _event_urls, event_url

    for n in range(_EVENT_URLS_MAX * 3):
        assert event_url(httpx.URL(f"http://127.0.0.1:8000/{n}")) == f"http://127.0.0.1:8000/{n}"
        assert len(_event_urls) <= _EVENT_URLS_MAX
    # Full, it stays full: the oldest entry makes room for each new one (its
    # memory stays level), and the newest are the ones kept.
    assert len(_event_urls) == _EVENT_URLS_MAX
    newest = set(_event_urls.values())
    assert f"http://127.0.0.1:8000/{_EVENT_URLS_MAX * 3 - 1}" in newest
    assert f"http://127.0.0.1:8000/{_EVENT_URLS_MAX * 2 - 1}" not in newest


def test_an_event_url_of_a_url_without_httpx_parts_is_made_each_time() -> None:
    from resilient_transport._redact import event_url

    class Unparsed:  # a URL type of some other httpx version: its text only
        def __str__(self) -> str:
            return "http://u:p@127.0.0.1:8000/x?token=t"

    assert event_url(Unparsed()) == "http://127.0.0.1:8000/x?token=REDACTED"  # type: ignore[arg-type]
