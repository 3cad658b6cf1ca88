"""Helpers shared by the reliability tests."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel


def fd_count() -> int:
    """File descriptors open in this process."""
    return len(os.listdir("/proc/self/fd"))


class GateSleep:
    """An injected ``sleep`` that runs a hook on its k-th call and records delays.

    It never sleeps for real: each call is a checkpoint, so the number of
    attempts depends only on when the hook runs, not on timing.
    """

    def __init__(self, k: int, hook: Callable[[], Awaitable[None] | None]) -> None:
        self.k = k
        self.hook = hook
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if len(self.delays) == self.k:
            outcome = self.hook()
            if outcome is not None:
                await outcome
        await anyio.lowlevel.checkpoint()


class LockstepSleep:
    """An injected ``sleep`` that keeps ``n`` concurrent requests in step.

    A request's j-th sleep returns only once all ``n`` requests have made
    their j-th sleep, so that every request has made exactly j attempts when
    the hook runs on level ``k``: attempt counts are exact under concurrency.
    """

    def __init__(self, n: int, k: int, hook: Callable[[], Awaitable[None] | None]) -> None:
        self.n = n
        self.k = k
        self.hook = hook
        self.delays: list[float] = []
        self._levels: dict[int, anyio.Event] = {}

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        calls = len(self.delays)
        level = (calls - 1) // self.n + 1
        event = self._levels.setdefault(level, anyio.Event())
        if calls == level * self.n:
            if level == self.k:
                outcome = self.hook()
                if outcome is not None:
                    await outcome
            event.set()
        await event.wait()
