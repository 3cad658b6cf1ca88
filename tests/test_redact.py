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
