#!/usr/bin/env python
"""Benchmarks: resilient_transport against bare httpx, its retry libraries and aiohttp.

    python benchmarks/run.py --scenario S [--contenders a,b,c] [--rounds N] [--requests N]

Scenarios (``--list`` prints them with their default contenders):

- ``inprocess``: the success path with no network (``httpx.MockTransport``
  inner, one yield to the event loop per request); CPU time per request.
- ``loopback``: the success path against a minimal HTTP server in a separate
  process on 127.0.0.1, at ``--concurrency`` (1 and 64 in the docs);
  requests per second, and the CPU the server and the client used.
- ``failure``: a closed port on 127.0.0.1, 2 retries, zero delay; every
  retrying contender runs with 2 retries and with 0, which gives the cost of
  one extra attempt.
- ``monitor``: events per second through an ``EventMonitor`` with one sync
  callback.
- ``monitor-wait``: how long ``wait_for_all_requests()`` takes to return
  after 64 events were queued while the monitor paused to let events gather.
- ``memory``: RSS over 100,000 requests, each contender in a fresh process.
- ``backoff-memory``: bytes per request while 10,000 concurrent requests
  sleep in backoff, each contender in a fresh process.
- ``results-memory``: the memory a running monitor keeps per request,
  answered and failed.

Contenders run interleaved in rounds (the order rotates every round) so that
noise from the machine hits all of them alike. Tables give medians over the
rounds; a ratio is computed within each round, then the median taken. Only
127.0.0.1 is ever contacted, and every loop is bounded.

This file is the runner: the command line. Each scenario is a module of
``scenarios/``, the client stacks are in ``contenders/``, what they share in
``harness.py`` and ``report.py``; ``measured.py`` decides which
resilient_transport is measured (this checkout's, or the tree
``benchmarks/ab.py`` names).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from measured import use_library

use_library()  # the measured library, then this directory, first on sys.path

from contenders import CONTENDERS  # noqa: E402
from report import machine, print_machine  # noqa: E402
from scenarios import CHILDREN, SCENARIOS  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="resilient_transport benchmarks", epilog="See benchmarks/README.md."
    )
    parser.add_argument("--scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--contenders", help="comma-separated; default: the scenario's")
    parser.add_argument("--rounds", type=int, help="default: the scenario's")
    parser.add_argument("--requests", type=int, help="per contender per round")
    parser.add_argument("--concurrency", type=int, default=1, help="inprocess, loopback")
    parser.add_argument("--retries", type=int, default=2, help="failure (default 2)")
    parser.add_argument("--server-workers", type=int, default=1, help="loopback server processes")
    parser.add_argument("--outage-seconds", type=float, default=3.0, help="outage (default 3)")
    parser.add_argument("--outage-modes", default="brownout,down", help="outage")
    parser.add_argument("--clients", type=int, default=1, help="outage: client processes")
    parser.add_argument("--profile", type=Path, help="profile the first contender into FILE")
    parser.add_argument("--json", type=Path, help="also write the raw figures to FILE")
    parser.add_argument("--list", action="store_true", help="list scenarios and contenders")
    parser.add_argument("--child", choices=["memory", "backoff"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--tracemalloc", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        args.contenders = args.contenders.split(",")
        print(json.dumps(CHILDREN[args.child](args)))
        return
    if args.list or not args.scenario:
        for name, scenario in SCENARIOS.items():
            print(
                f"{name:15s} {scenario.doc}\n{'':15s} contenders: {','.join(scenario.contenders)}"
            )
        print(f"\nall contenders: {', '.join(CONTENDERS)}")
        return
    scenario = SCENARIOS[args.scenario]
    args.contenders = args.contenders.split(",") if args.contenders else scenario.contenders
    own = ("monitor", "outage")  # scenarios with contenders of their own
    unknown = [n for n in args.contenders if n not in CONTENDERS and args.scenario not in own]
    if unknown:
        parser.error(f"unknown contender(s): {', '.join(unknown)}")
    args.rounds = args.rounds or scenario.rounds
    args.requests = args.requests or scenario.requests
    info = machine()
    print(
        f"Command: python benchmarks/run.py {shlex.join(sys.argv[1:] if argv is None else argv)}"
    )
    print_machine(info)
    print(
        f"Scenario {args.scenario} ({scenario.doc}): {args.rounds} round(s) of "
        f"{args.requests:,} per contender, concurrency {args.concurrency}\n"
    )
    figures = scenario.run(args)
    if args.json:
        settings = {k: str(v) for k, v in vars(args).items()}
        payload = {"machine": info, "args": settings, "figures": figures}
        args.json.write_text(json.dumps(payload, indent=1, default=str))


if __name__ == "__main__":
    main()
