"""The one rule for a URL that leaves the library: no userinfo, no secret query value.

Events' ``url``, the logging integration's lines, OpenTelemetry's ``url.full``
and the command line's output all show a URL through ``safe_url`` (or its
public face ``redact_url``), so that a secret is hidden everywhere or
nowhere.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from urllib.parse import unquote_plus

from ._stack import httpx, of_every_stack

__all__ = [
    "DEFAULT_REDACTED_QUERY_KEYS",
    "REDACTED",
    "event_url",
    "redact_url",
    "redacted_query_keys",
    "safe_url",
    "set_redacted_query_keys",
]

#: What replaces a secret query value.
REDACTED = "REDACTED"

#: The query parameters whose values are redacted by default, matched
#: case-insensitively after percent-decoding: the signature keys the
#: OpenTelemetry HTTP conventions name, AWS Signature V4's secrets, and the
#: common names of credentials (``key`` is Google APIs' API key).
DEFAULT_REDACTED_QUERY_KEYS: frozenset[str] = frozenset(
    {
        # OpenTelemetry HTTP semantic conventions (url.full).
        "AWSAccessKeyId",
        "Signature",
        "sig",
        "X-Goog-Signature",
        # AWS Signature Version 4 presigned URLs.
        "X-Amz-Security-Token",
        "X-Amz-Signature",
        # Credentials.
        "access_token",
        "api-key",
        "api_key",
        "apikey",
        "auth_token",
        "client_secret",
        "id_token",
        "key",
        "passwd",
        "password",
        "refresh_token",
        "secret",
        "token",
    }
)

# The keys as set, and the same keys case-folded for matching: one tuple, so
# that a reader on another thread never sees one without the other.
_keys: tuple[frozenset[str], frozenset[str]] = (
    DEFAULT_REDACTED_QUERY_KEYS,
    frozenset(key.casefold() for key in DEFAULT_REDACTED_QUERY_KEYS),
)

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


def redacted_query_keys() -> frozenset[str]:
    """Return the query parameters whose values are redacted now, as they were set.

    Returns:
        [`DEFAULT_REDACTED_QUERY_KEYS`][] unless
        [`set_redacted_query_keys`][] changed them.
    """
    return _keys[0]


def set_redacted_query_keys(keys: Iterable[str]) -> frozenset[str]:
    """Set, for the whole process, the query parameters whose values are redacted.

    The set replaces the current one; to add names, extend the current set:

    ```python
    set_redacted_query_keys(redacted_query_keys() | {"session_id"})
    ```

    Names are matched case-insensitively, after percent-decoding. The change
    applies to every URL shown from then on: events, log lines, spans, the
    command line. Userinfo (``user:password@``) is always removed, whatever
    the set.

    Args:
        keys: The parameter names; an empty iterable redacts no query value.

    Returns:
        The previous set, to restore it later.

    Raises:
        TypeError: ``keys`` is a ``str`` (a set of its letters is surely not
            meant), is not iterable, or holds something other than a ``str``.
        ValueError: ``keys`` holds an empty string.
    """
    global _keys
    if isinstance(keys, str):
        raise TypeError(f"keys must be an iterable of str, not a str: {keys!r}")
    try:
        names = frozenset(keys)
    except TypeError:
        raise TypeError(f"keys must be an iterable of str, got {keys!r}") from None
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"keys must contain only str, got {name!r}")
        if not name:
            raise ValueError(f"keys must not contain an empty string, got {name!r}")
    previous = _keys[0]
    _keys = (names, frozenset(name.casefold() for name in names))
    _event_urls.clear()  # made under the keys before
    return previous


_URLS: tuple[type[httpx.URL], ...] = of_every_stack("URL")


def redact_url(url: httpx.URL | str) -> str:
    """Return ``url`` as text that is safe to show: the library's own rule.

    The userinfo (``user:password@``) is removed, and the value of every query
    parameter named in [`redacted_query_keys`][] is replaced with
    ``REDACTED`` (each occurrence; an empty value stays empty). All else is
    left as it is, byte for byte. A string is not parsed, so even an invalid
    URL loses its secrets; the fragment is left alone.

    Args:
        url: An ``httpx.URL`` (or ``httpx2.URL``), or a URL as text.

    Returns:
        The URL as text, as events, log lines, spans and the command line show it.

    Raises:
        TypeError: ``url`` is neither an ``httpx.URL`` nor a ``str``.
    """
    if isinstance(url, _URLS):
        return safe_url(url)
    if not isinstance(url, str):
        raise TypeError(f"url must be an httpx.URL or a str, got {url!r}")
    if "@" in url or "?" in url:
        return _redact(url, "")
    return url


def safe_url(url: httpx.URL, credentials: str = "") -> str:
    """Return ``url`` as text under the rule of ``redact_url``; the transport's fast path.

    Args:
        url: The URL.
        credentials: What stands for removed userinfo (``"REDACTED:REDACTED"``
            in OpenTelemetry's ``url.full``); by default nothing.
    """
    text = str(url)
    # Userinfo needs an "@" and a query a "?": most URLs have neither, and
    # they then cost one search each.
    if "@" in text or "?" in text:
        return _redact(text, credentials)
    return text


# The text of the URLs events carried last, by the parsed form of the URL
# (httpx's, a tuple of its parts) and the redacted keys it was made under:
# making the text costs several thousand instructions per event, finding it
# a tuple hash. Bounded: when full, the oldest entry makes room (so the
# memory it holds stays level, where emptying it would swing by ~90 KB);
# emptied when the keys change.
_event_urls: dict[object, str] = {}
_EVENT_URLS_MAX = 256


def event_url(url: httpx.URL) -> str:
    """``safe_url(url)``, remembered for the next request to the same URL: an event's URL."""
    parsed = getattr(url, "_uri_reference", None)
    if parsed is None:
        return safe_url(url)
    # The keys in the key: a text made while another thread changes them is
    # never found under the new ones.
    key = (parsed, _keys)
    try:
        return _event_urls[key]
    except KeyError:
        text = safe_url(url)
        if len(_event_urls) >= _EVENT_URLS_MAX:
            # Another thread may have taken it first, or emptied the dict.
            with contextlib.suppress(StopIteration, KeyError, RuntimeError):
                del _event_urls[next(iter(_event_urls))]
        _event_urls[key] = text
        return text
    except TypeError:  # pragma: no cover - a URL parsed into something unhashable
        return safe_url(url)


def _redact(text: str, credentials: str) -> str:
    if "@" in text:
        text = _without_userinfo(text, credentials)
    query_at = text.find("?")
    if query_at < 0:
        return text
    hash_at = text.find("#")
    if hash_at < 0:
        return text[: query_at + 1] + _redact_query(text[query_at + 1 :])
    if hash_at < query_at:  # the "?" is in the fragment: no query
        return text
    return text[: query_at + 1] + _redact_query(text[query_at + 1 : hash_at]) + text[hash_at:]


def _without_userinfo(text: str, credentials: str) -> str:
    """``text`` with the userinfo of its authority, if any, replaced by ``credentials``."""
    slashes = text.find("//")
    # An authority follows "//" only at the start or right after the scheme.
    if slashes < 0 or (slashes and not _SCHEME.fullmatch(text, 0, slashes)):
        return text
    start = slashes + 2
    end = len(text)
    for stop in "/?#":
        at = text.find(stop, start, end)
        if at >= 0:
            end = at
    # A userinfo cannot hold a raw "@", so the last one ends it.
    at = text.rfind("@", start, end)
    if at < 0:
        return text
    return text[:start] + (credentials + "@" if credentials else "") + text[at + 1 :]


def _redact_query(query: str) -> str:
    folded = _keys[1]
    if not folded:
        return query
    parts = query.split("&")
    changed = False
    for index, part in enumerate(parts):
        key, _, value = part.partition("=")
        if not value:
            continue  # no value, or an empty one: nothing to hide
        name = unquote_plus(key) if "%" in key or "+" in key else key
        if name.casefold() in folded:
            parts[index] = f"{key}={REDACTED}"
            changed = True
    return "&".join(parts) if changed else query
