"""Who processes a client's events: the monitor's loop, or the requests themselves.

`AsyncResilientClient` entered with ``async with`` runs its monitor's loop
in a task of its own. Used the plain httpx way instead (created, used, then
``await client.aclose()``), it has no task to run the loop in: this is the
no-loop mode, where each request processes the events queued when it ends,
in its own task, with `EventMonitor.process_queued`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from types import TracebackType

from ._monitor import EventMonitor
from ._results import RequestResult
from ._stack import httpx

__all__ = ["ClientEvents"]


class ClientEvents:
    """Gets the events of one client processed, with or without the monitor's loop."""

    __slots__ = ("_looping", "monitor")

    def __init__(self, monitor: EventMonitor) -> None:
        self.monitor = monitor
        # Whether `async with` started the monitor's loop; if not, the
        # client's requests process the events themselves.
        self._looping = False

    async def start(self) -> None:
        """Start the monitor's loop (the client is being entered)."""
        await self.monitor.__aenter__()
        self._looping = True

    async def stop(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Process what was sent, then stop the loop (the client is being exited)."""
        await self.monitor.__aexit__(exc_type, exc_value, traceback)

    async def after(self, sending: Awaitable[httpx.Response]) -> httpx.Response:
        """Await ``sending``; without a loop, then process the events queued.

        Failed or not, the request's own events are processed before this
        returns (after the response head, before its body). A cancellation
        in an async callback closes the response, as ``httpx.AsyncClient.send``
        does for one that arrives while it sends.
        """
        if self._looping:
            return await sending
        try:
            response = await sending
        except Exception:
            await self.monitor.process_queued()
            raise
        try:
            await self.monitor.process_queued()
        except BaseException:
            await response.aclose()
            raise
        return response

    async def wait_for_all_requests(self) -> dict[str, RequestResult]:
        """Wait until every event sent so far is processed; return the results."""
        if not self._looping:
            await self.monitor.process_queued()  # no loop: the events are ours to process
        return await self.monitor.wait_for_all_requests()

    async def close(self) -> None:
        """The client is closed: without a loop, process the events left and close the stream."""
        await self.monitor.close_without_loop()
