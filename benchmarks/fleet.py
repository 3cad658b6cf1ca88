#!/usr/bin/env python
"""A fleet of clients against one upstream, in virtual time: when does a blip become an outage?

    python benchmarks/fleet.py [--clients 100,1000,10000] [--seed 1] [--seconds 40]
                               [--contenders none,retries,budget,adaptive] [--plot]

Every simulated client is a real ``RetryingAsyncTransport`` (this checkout's
library: retry policy, backoff, budget, as shipped) over :class:`SimTransport`,
an inner transport that talks to :class:`Upstream`, a model server in the same
process. It all runs under trio with ``MockClock(autojump_threshold=0)``:
virtual time jumps whenever every task sleeps, so minutes of traffic take
seconds, and a given ``--seed`` gives the same figures every time.

The upstream serves ``CAPACITY`` requests per second, first come first
served, from an unbounded queue. A client waits ``TIMEOUT`` seconds for its
answer and then gives up with ``httpx.ReadTimeout`` (retried: it is a GET and
the transports set ``retry_idempotent_errors=True``); the server does not
know and still spends the work when the request's turn comes. That is the
mechanism of a metastable failure: once the queue is longer than the
timeout, every request times out, its retries lengthen the queue further,
and the overload sustains itself after its trigger is gone.

The trigger is a blip: the upstream stops for ``BLIP`` seconds at
``BLIP_AT``. The offered load is ``LOAD`` of the capacity, spread evenly over
the fleet (each of N clients sends ``LOAD * CAPACITY / N`` requests per
second, Poisson arrivals), so that only the fleet's size changes between the
rows: what each client sees of the failure, and what its own protection
can do about it.

Contenders (each client gets its own budget: clients share nothing):

- ``none``: no retries.
- ``retries``: 3 retries, backoff 0.5 s doubling, full jitter.
- ``budget``: the same with a default ``RetryBudget`` per client.
- ``budget-scaled``: a ``RetryBudget`` per client scaled to the fleet: no
  burst from the bucket (``max_tokens=2``), and a floor of ``FLEET_FLOOR / N``
  retries per second, so that the fleet's floor is 10 % of the capacity.
- ``adaptive``: the same with an ``AdaptiveRetryBudget`` per client, its
  floor scaled to the fleet (``min_rate = 1 / N`` of the fleet's 1 retry/s).

Figures: served share (requests that got a 200 / requests sent), amplification
(attempts at the upstream / requests), and recovery: seconds from the end of
the blip until every later second serves at least 95 % of its requests.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import httpx  # noqa: E402
import trio  # noqa: E402
from trio.testing import MockClock  # noqa: E402

import resilient_transport  # noqa: E402
from resilient_transport import RetryBudget, RetryingAsyncTransport  # noqa: E402

CAPACITY = 1000.0  # requests per second
LOAD = 0.8  # offered load, share of the capacity
TIMEOUT = 1.0  # seconds a client waits for an answer
BLIP_AT = 5.0
BLIP = 2.0  # seconds the upstream stops
RETRIES = 3
BASE = 0.5
CAP = 8.0
FLEET_FLOOR = 0.1 * CAPACITY  # retries per second, the whole fleet's floor
SERVED = 0.95  # a second "serves" when this share of its requests got a 200
URL = "http://upstream.sim/"


_sleeps = [0]


async def sleep(seconds: float) -> None:
    """``trio.sleep``, a little longer each call, so that no two tasks wake at the same time.

    trio breaks ties between equal deadlines by object identity, which
    differs from run to run; with every deadline distinct (1e-12 s apart, far
    below anything simulated), the same seed gives the same run.
    """
    _sleeps[0] += 1
    await trio.sleep(seconds + _sleeps[0] * 1e-12)


class Upstream:
    """One FIFO server of finite capacity; it serves timed-out requests all the same."""

    def __init__(self, seconds: int) -> None:
        self.free_at = 0.0
        self.attempts = [0] * (seconds + 60)

    def admit(self, now: float) -> float:
        """Queue one attempt arriving at ``now``; return when its answer is sent."""
        self.attempts[int(now)] += 1
        start = max(now, self.free_at)
        if BLIP_AT <= start < BLIP_AT + BLIP:
            start = BLIP_AT + BLIP
        self.free_at = start + 1.0 / CAPACITY
        return self.free_at


class SimTransport(httpx.AsyncBaseTransport):
    """The inner transport: waits in the upstream's queue, or times out."""

    def __init__(self, upstream: Upstream) -> None:
        self._upstream = upstream

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        now = trio.current_time()
        wait = self._upstream.admit(now) - now
        if wait > TIMEOUT:
            await sleep(TIMEOUT)
            raise httpx.ReadTimeout("timed out (simulated)", request=request)
        await sleep(wait)
        return httpx.Response(200, request=request)


def budget_for(contender: str, clients: int, draw: random.Random) -> RetryBudget | None:
    """The protection of one client of a fleet of ``clients`` (``draw``: its seeded randomness)."""
    if contender == "budget":
        return RetryBudget(clock=trio.current_time, random=draw.random)
    if contender == "budget-scaled":
        return RetryBudget(
            max_tokens=2,
            min_retries_per_second=FLEET_FLOOR / clients,
            clock=trio.current_time,
            random=draw.random,
        )
    if contender == "adaptive":
        adaptive = getattr(resilient_transport, "AdaptiveRetryBudget", None)
        if adaptive is None:
            raise SystemExit("this checkout has no AdaptiveRetryBudget")
        budget: RetryBudget = adaptive(min_rate=1.0 / clients, clock=trio.current_time)
        return budget
    return None


async def simulate(contender: str, clients: int, seconds: int, seed: int) -> dict[str, Any]:
    upstream = Upstream(seconds)
    rng = random.Random(seed)
    # One generator per client: its jitter and its budget's chances.
    draws = [random.Random(seed * 100_003 + i) for i in range(clients)]
    transports = [
        RetryingAsyncTransport(
            SimTransport(upstream),
            max_retries=0 if contender == "none" else RETRIES,
            base_delay=BASE,
            max_delay=CAP,
            retry_idempotent_errors=True,
            budget=budget_for(contender, clients, draws[i]),
            sleep=sleep,
            clock=trio.current_time,
            random=draws[i].random,
        )
        for i in range(clients)
    ]
    sent = [0] * (seconds + 1)
    ok = [0] * (seconds + 1)

    async def one(transport: RetryingAsyncTransport, second: int) -> None:
        try:
            response = await transport.handle_async_request(httpx.Request("GET", URL))
        except httpx.HTTPError:
            return
        ok[second] += response.status_code == 200

    rate = LOAD * CAPACITY
    async with trio.open_nursery() as nursery:
        now = 0.0
        while True:
            now += rng.expovariate(rate)
            if now >= seconds:
                break
            await trio.sleep_until(now)
            second = int(now)
            sent[second] += 1
            nursery.start_soon(one, transports[rng.randrange(clients)], second)
    requests = sum(sent)
    served = [ok[s] / sent[s] if sent[s] else 1.0 for s in range(seconds)]
    blip_end = BLIP_AT + BLIP
    recovered = None
    for s in range(int(blip_end), seconds):
        if all(share >= SERVED for share in served[s:seconds]):
            recovered = max(0.0, s - blip_end)
            break
    return {
        "requests": requests,
        "served": sum(ok) / requests,
        "amplification": sum(upstream.attempts) / requests,
        "recovery": recovered,
        "per_second_attempts": upstream.attempts[: seconds + 30],
        "per_second_served": served,
    }


def run_one(contender: str, clients: int, seconds: int, seed: int) -> dict[str, Any]:
    clock = MockClock(autojump_threshold=0)
    # trio runs the tasks ready at one instant in a random order (its own
    # generator): seeded, the same seed gives the same run.
    trio._core._run._r.seed(seed)
    _sleeps[0] = 0
    started = time.perf_counter()
    result: dict[str, Any] = trio.run(simulate, contender, clients, seconds, seed, clock=clock)
    result["wall"] = time.perf_counter() - started
    return result


def plot(results: dict[tuple[str, int], dict[str, Any]], seconds: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({n for _, n in results})
    contenders = list(dict.fromkeys(c for c, _ in results))
    figure, axes = plt.subplots(
        2, len(sizes), sharex=True, figsize=(4 * len(sizes), 5.5), squeeze=False
    )
    for col, n in enumerate(sizes):
        for name in contenders:
            result = results[(name, n)]
            xs = range(seconds)
            axes[0][col].plot(xs, result["per_second_attempts"][:seconds], label=name)
            axes[1][col].plot(xs, [100 * s for s in result["per_second_served"]], label=name)
        for row in (0, 1):
            axes[row][col].axvspan(BLIP_AT, BLIP_AT + BLIP, color="0.9", zorder=0)
        axes[0][col].axhline(CAPACITY, color="black", linestyle=":", linewidth=0.8)
        axes[0][col].set_title(f"{n:,} clients", fontsize=9)
        axes[0][col].set_ylim(0, CAPACITY * 4.5)
        axes[1][col].set_ylim(-5, 105)
        axes[1][col].set_xlabel("virtual seconds", fontsize=8)
    axes[0][0].set_ylabel("attempts at the upstream per s", fontsize=8)
    axes[1][0].set_ylabel("% of each second's requests served", fontsize=8)
    axes[0][0].legend(fontsize=7)
    figure.suptitle(
        f"{LOAD:.0%} load on a {CAPACITY:g}/s upstream that stops for {BLIP:g} s (grey); "
        f"client timeout {TIMEOUT:g} s",
        fontsize=9,
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="100,1000,10000")
    parser.add_argument("--contenders", default="none,retries,budget,budget-scaled,adaptive")
    parser.add_argument("--seconds", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--plot", type=Path, nargs="?", const=HERE.parent / "docs/img/fleet.png")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.clients.split(",")]
    contenders = args.contenders.split(",")
    print(
        f"Command: python benchmarks/fleet.py {' '.join(sys.argv[1:] if argv is None else argv)}"
    )
    print(
        f"upstream {CAPACITY:g}/s, load {LOAD:.0%}, client timeout {TIMEOUT:g} s, stop of "
        f"{BLIP:g} s at {BLIP_AT:g} s, {args.seconds} s of traffic, seed {args.seed}\n"
    )
    results: dict[tuple[str, int], dict[str, Any]] = {}
    print("| clients | contender | served | amplification | recovery (s) | wall (s) |")
    print("|---:|---|---:|---:|---:|---:|")
    for n in sizes:
        for name in contenders:
            result = run_one(name, n, args.seconds, args.seed)
            results[(name, n)] = result
            rec = result["recovery"]
            recovery = f"{rec:g}" if rec is not None else f"not within {args.seconds:g} s"
            print(
                f"| {n:,} | {name} | {100 * result['served']:.1f} % | "
                f"{result['amplification']:.2f} | {recovery} | {result['wall']:.1f} |",
                flush=True,
            )
    if args.plot:
        plot(results, args.seconds, args.plot)
        print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
