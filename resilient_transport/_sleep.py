"""The transports' default sleep, and the switch that makes it instant in tests."""

from __future__ import annotations

import time

import anyio

__all__ = ["default_sleep", "default_sync_sleep", "instant_sleep_enabled", "set_instant"]

_instant = False


async def default_sleep(seconds: float) -> None:
    """``anyio.sleep(seconds)``; while sleeps are instant, ``anyio.sleep(0)``.

    The instant sleep is still a checkpoint: a cancelled request stops there,
    as it would in a real sleep.
    """
    await anyio.sleep(0.0 if _instant else seconds)


def default_sync_sleep(seconds: float) -> None:
    """``time.sleep(seconds)``; while sleeps are instant, no wait at all."""
    if not _instant:
        time.sleep(seconds)


def instant_sleep_enabled() -> bool:
    """Whether the default sleep is instant."""
    return _instant


def set_instant(enabled: bool) -> bool:
    """Make the default sleep instant (or not); return the previous setting."""
    global _instant
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be a bool, got {enabled!r}")
    previous, _instant = _instant, enabled
    return previous
