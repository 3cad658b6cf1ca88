"""The monitor's result store: the most recent requests' results, bounded."""

from __future__ import annotations

from collections import OrderedDict

from ._events import AsyncEvent, EventType
from ._results import RequestResult

__all__ = ["ResultStore"]


class ResultStore:
    """Keeps the `RequestResult` of the most recent requests, oldest first.

    Fed one terminal event per request by `record`, an ordinary callback for
    the event types in `event_types`. A request id seen again replaces the
    earlier result; past ``max_results`` the oldest result is forgotten.

    Raises:
        TypeError: ``max_results`` is not an int.
        ValueError: ``max_results`` is negative.
    """

    def __init__(self, max_results: int) -> None:
        if isinstance(max_results, bool) or not isinstance(max_results, int):
            raise TypeError(f"max_results must be an int, got {max_results!r}")
        if max_results < 0:
            raise ValueError(f"max_results must be >= 0, got {max_results!r}")
        self._max_results = max_results
        self._results: OrderedDict[str, RequestResult] = OrderedDict()

    @property
    def max_results(self) -> int:
        """How many results are kept at most."""
        return self._max_results

    @property
    def event_types(self) -> tuple[EventType, ...]:
        """The event types to feed to `record`: the terminal ones; none if nothing is kept."""
        if not self._max_results:
            return ()
        return tuple(t for t in EventType if t.is_terminal)

    def get(self, request_id: str) -> RequestResult | None:
        """The result kept for ``request_id``, or ``None``."""
        return self._results.get(request_id)

    def snapshot(self) -> dict[str, RequestResult]:
        """A copy of the kept results, oldest first."""
        return dict(self._results)

    def record(self, event: AsyncEvent) -> None:
        """Keep the result of the request that the terminal ``event`` ended."""
        results = self._results
        request_id = event.context.request_id
        if request_id in results:
            del results[request_id]
        results[request_id] = RequestResult.from_event(event)
        if len(results) > self._max_results:
            results.popitem(last=False)
