"""Request ids: random UUID4 strings, made in batches."""

from __future__ import annotations

import os

__all__ = ["new_request_id"]

# Request ids are made in batches: most of ``str(uuid.uuid4())``'s cost is
# building a UUID object and formatting it, and a request with no id of its
# own needs one (docs/benchmarks.md has the figures). A batch draws its
# randomness in one os.urandom() call, sets the version and variant bits of
# every id at once, and lays out the text of every id with one slice
# assignment per character position; each id is exactly what
# str(uuid.uuid4()) gives.
_ID_BATCH = 256
_VERSION_4 = bytes((byte & 0x0F) | 0x40 for byte in range(256))
_VARIANT_RFC_4122 = bytes((byte & 0x3F) | 0x80 for byte in range(256))
_DASHES = frozenset({8, 13, 18, 23})  # in "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"
_request_ids: list[str] = []


def _uuid4_strings(count: int) -> list[str]:
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = raw[6::16].translate(_VERSION_4)
    raw[8::16] = raw[8::16].translate(_VARIANT_RFC_4122)
    digits = raw.hex().encode("ascii")  # 32 per id
    text = bytearray(36 * count)  # 36 per id
    digit = 0
    for position in range(36):
        if position in _DASHES:
            text[position::36] = b"-" * count
        else:
            text[position::36] = digits[digit::32]
            digit += 1
    joined = text.decode("ascii")
    return [joined[start : start + 36] for start in range(0, 36 * count, 36)]


def new_request_id() -> str:
    """A fresh random UUID4 string, as ``str(uuid.uuid4())``."""
    try:
        return _request_ids.pop()
    except IndexError:
        _request_ids.extend(_uuid4_strings(_ID_BATCH))
        return _request_ids.pop()


# A forked child must not hand out the ids its parent holds too.
if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(after_in_child=_request_ids.clear)
