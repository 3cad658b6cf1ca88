"""Request ids: random UUID4 strings, made in batches."""

from __future__ import annotations

import binascii
import os

__all__ = ["new_request_id"]

# Request ids are made in batches: most of ``str(uuid.uuid4())``'s cost is
# building a UUID object and formatting it, and a request with no id of its
# own needs one (docs/benchmarks.md has the figures). A batch draws its
# randomness in one os.urandom() call, sets the version and variant bits of
# every id at once, writes the digits with a dash after every fourth one
# (hexlify's separator), then deletes the dashes a UUID does not have: each
# deletion is one strided slice over the whole batch. Each id is exactly
# what str(uuid.uuid4()) gives.
_ID_BATCH = 256
_VERSION_4 = bytes((byte & 0x0F) | 0x40 for byte in range(256))
_VARIANT_RFC_4122 = bytes((byte & 0x3F) | 0x80 for byte in range(256))
_request_ids: list[str] = []


def _uuid4_strings(count: int) -> list[str]:
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = raw[6::16].translate(_VERSION_4)
    raw[8::16] = raw[8::16].translate(_VARIANT_RFC_4122)
    # Per id, 40 characters: "aaaa-aaaa-bbbb-cccc-dddd-eeee-eeee-eeee" and
    # the dash before the next id, which becomes the separator to split on.
    text = bytearray(binascii.hexlify(raw, "-", 2))
    text += b"-"
    text[39::40] = b"\n" * count
    del text[34::40]  # "...-eeee-eeee-eeee" -> "...-eeee-eeeeeeee"
    del text[29::39]  # -> "...-eeeeeeeeeeee"
    del text[4::38]  # "aaaa-aaaa-..." -> "aaaaaaaa-...": 36 characters and "\n"
    del text[-1]  # the last id's "\n": nothing follows it
    return text.decode("ascii").split("\n")


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
