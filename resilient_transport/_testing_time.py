"""Time for `resilient_transport.testing`: sleeps that do not wait, and a clock the test owns.

Re-exported by `resilient_transport.testing`, which is where users import them.
"""

from __future__ import annotations

import math
from types import TracebackType

import anyio
import anyio.lowlevel

from . import _sleep

__all__ = ["FakeClock", "RecordingSleep", "set_instant_sleep"]


class RecordingSleep:
    """An instant ``sleep`` for a transport, that records the delays it is asked for.

    For [`RetryingAsyncTransport`][resilient_transport.RetryingAsyncTransport]'s
    ``sleep=``; its `sync` method is the same for
    [`RetryingTransport`][resilient_transport.RetryingTransport]'s
    (``sleep=recording.sync``), and safe to call from many threads.

    Each call still passes a checkpoint, so cancellation works as with a real
    sleep. With ``block=True`` it never returns instead (until cancelled):
    the way to hold a request in its backoff.

    Attributes:
        delays: The delays asked for, in order.
    """

    def __init__(self, *, block: bool = False) -> None:
        self.delays: list[float] = []
        self._block = block
        self.sleeping = 0

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if not self._block:
            await anyio.lowlevel.checkpoint()
            return
        self.sleeping += 1
        try:
            await anyio.sleep_forever()
        finally:
            self.sleeping -= 1

    def sync(self, delay: float) -> None:
        """Record ``delay`` and return at once: the sleep of a synchronous transport.

        It never blocks, even with ``block=True`` (a blocked thread could
        not be cancelled).
        """
        self.delays.append(delay)  # list.append is atomic: safe from many threads

    @property
    def total(self) -> float:
        """Seconds that would have been slept."""
        return math.fsum(self.delays)


class FakeClock:
    """A monotonic clock that moves only when told to, with a ``sleep`` that moves it.

    Give a transport the clock as ``clock=`` and `sleep` as ``sleep=``
    (`sync_sleep` for a [`RetryingTransport`][resilient_transport.RetryingTransport]):
    each backoff then advances the clock by its delay instead of waiting, so
    a ``deadline`` (or a `RetryBudget`'s refill, given ``clock=``) is tested
    exactly and instantly. `advance` stands for time spent elsewhere,
    in an attempt, say.

    ```python
    clock = FakeClock()
    transport = RetryingAsyncTransport(inner, clock=clock, sleep=clock.sleep, deadline=10.0)
    ...
    clock.advance(1.5)
    assert clock() == clock.now
    ```

    Each `sleep` still passes a checkpoint, so cancellation works as
    with a real sleep (a cancelled sleep does not move the clock).

    Args:
        start: The time at first, in seconds.

    Raises:
        TypeError: ``start`` is not a number.
        ValueError: ``start`` is not finite.

    Attributes:
        delays: The delays `sleep` was asked for, in order.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = _seconds("start", start)
        self.delays: list[float] = []

    def __call__(self) -> float:
        """The current time, in seconds."""
        return self._now

    @property
    def now(self) -> float:
        """The current time, in seconds (what calling the clock returns)."""
        return self._now

    @property
    def total(self) -> float:
        """Seconds slept through `sleep` in all."""
        return math.fsum(self.delays)

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``.

        Args:
            seconds: How far; 0 or more.

        Raises:
            TypeError: ``seconds`` is not a number.
            ValueError: ``seconds`` is negative or not finite.
        """
        seconds = _seconds("seconds", seconds)
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds!r}")
        self._now += seconds

    async def sleep(self, delay: float) -> None:
        """Record ``delay`` and advance the clock by it, without waiting.

        A negative delay is recorded and returns at once, as ``anyio.sleep``
        does.

        Args:
            delay: The seconds to sleep.
        """
        self.delays.append(delay)
        await anyio.lowlevel.checkpoint()
        self._now += max(delay, 0.0)

    def sync_sleep(self, delay: float) -> None:
        """`sleep` for a synchronous transport: record ``delay``, advance the clock by it."""
        self.delays.append(delay)
        self._now += max(delay, 0.0)


def _seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


class _InstantSleep:
    """What `set_instant_sleep` returns: leaving it as a context manager restores the setting."""

    __slots__ = ("_previous",)

    def __init__(self, previous: bool) -> None:
        self._previous = previous

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _sleep.set_instant(self._previous)


def set_instant_sleep(enabled: bool = True) -> _InstantSleep:
    """Make every transport's backoff sleeps instant (or real again), process-wide.

    For your own test suite: with it, a test in which respx or a fake inner
    transport raises ``httpx.ConnectError`` does not wait through real
    backoff. One line in ``conftest.py`` covers the whole session:

    ```python
    resilient_transport.testing.set_instant_sleep()
    ```

    It also works as a context manager, which restores the previous setting
    on exit (in a fixture, say):

    ```python
    with set_instant_sleep():
        ...
    ```

    Only the default sleep is affected (a transport given its own ``sleep=``
    keeps it); an instant sleep is still a checkpoint, so cancellation
    behaves as in a real one. Attempts, delays asked, events and results are
    unchanged: the events' ``delay`` is still the delay that was chosen.

    Args:
        enabled: ``True`` for instant sleeps, ``False`` for real ones again.

    Raises:
        TypeError: ``enabled`` is not a bool.
    """
    return _InstantSleep(_sleep.set_instant(enabled))
