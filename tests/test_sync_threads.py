"""One RetryingTransport and one RetryBudget shared by 32 threads, on real sockets.

Each request keeps its own attempt count and events; the budget's books are
exact. Every figure is chosen so that the exact result does not depend on
the order in which the threads ran: the bucket stays between half full and
full (no clamping, every retry allowed), and its amounts are multiples of
0.5 (exact in binary floating point).
"""

from __future__ import annotations

import threading
from collections import Counter

import httpx

from resilient_transport import (
    EventQueue,
    EventType,
    RetryBudget,
    RetryingTransport,
    SyncEventMonitor,
)
from resilient_transport.testing import CountingTransport, RecordingSleep

from ._server import free_port
from ._sync_server import SyncServer

THREADS = 32
PER_THREAD = 4  # requests to each of the two URLs, per thread


def test_32_threads_share_one_transport_and_budget_with_exact_books(
    sync_server: SyncServer,
) -> None:
    budget = RetryBudget(max_tokens=10_000, token_ratio=0.5)
    for _ in range(1_000):
        budget.record_failure()  # 9,000: room both ways
    queue = EventQueue(max_size=10_000)
    sleep = RecordingSleep()
    counting = CountingTransport(httpx.HTTPTransport())
    transport = RetryingTransport(counting, budget=budget, events=queue, sleep=sleep.sync)
    closed = f"http://127.0.0.1:{free_port()}/"
    outcomes: Counter[str] = Counter()
    start = threading.Barrier(THREADS)
    lock = threading.Lock()

    def work(worker: int, client: httpx.Client) -> None:
        start.wait()
        for n in range(PER_THREAD):
            ok = client.get(
                f"{sync_server.url}/t{worker}",
                extensions={"retry": {"request_id": f"ok-{worker}-{n}"}},
            )
            try:
                client.get(closed, extensions={"retry": {"request_id": f"down-{worker}-{n}"}})
            except httpx.ConnectError:
                with lock:
                    outcomes["refused"] += 1
            with lock:
                outcomes[ok.text] += 1

    with SyncEventMonitor(queue) as monitor, httpx.Client(transport=transport) as client:
        workers = [
            threading.Thread(target=work, args=(worker, client)) for worker in range(THREADS)
        ]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        results = monitor.wait_for_all_requests()

    requests = THREADS * PER_THREAD
    assert outcomes["refused"] == requests
    assert sum(n for text, n in outcomes.items() if text.startswith("GET /t")) == requests
    # Each request's attempts are its own: 1 for each answer, 3 for each refusal.
    for worker in range(THREADS):
        for n in range(PER_THREAD):
            assert counting.attempts[f"ok-{worker}-{n}"] == 1
            assert counting.attempts[f"down-{worker}-{n}"] == 3
            assert counting.failures[f"down-{worker}-{n}"] == [httpx.ConnectError] * 3
    assert counting.calls == requests * 4
    assert len(sleep.delays) == requests * 2
    # The books: 3 failed attempts per refusal, 0.5 back per answer.
    assert budget.tokens == 9_000 - 3 * requests + 0.5 * requests
    # Each request's events are its own, in order, none dropped.
    assert transport.dropped_events == 0
    assert len(results) == 2 * requests
    for request_id, result in results.items():
        if request_id.startswith("ok-"):
            assert (result.attempts, result.outcome, result.status_code) == (
                1,
                EventType.SUCCESS,
                200,
            )
        else:
            assert (result.attempts, result.outcome) == (3, EventType.ERROR)
    assert monitor.events_processed == requests * (1 + 3)
    assert queue.finished
