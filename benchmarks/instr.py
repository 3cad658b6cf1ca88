"""Instructions per request of the in-process contenders, counted by callgrind.

    python benchmarks/instr.py [CONTENDER ...]          # the table (needs valgrind)
    python benchmarks/instr.py --run CONTENDER N        # what valgrind runs

callgrind counts the instructions a process executes, whatever else the
machine is doing: the figures repeat to the last digit, where a timing on a
shared two-core machine moves by several per cent. Each contender runs its
``one()`` 50 + N times and 50 times, each under valgrind with the same
``PYTHONHASHSEED``; the difference divided by N is the cost of one request
(start-up and warm-up cancel out), and the figure is its mean over three
hash seeds (a seed moves it by up to ~2,000 instructions).
The contenders are the in-process scenario's (``contenders``,
``Env("inprocess")``). Results: docs/benchmarks.md.

Time is the one thing valgrind changes: it runs the program tens of times
slower. The event monitor lets events gather for a millisecond of wall
time before taking them in one go, so under valgrind it would find one
event per pause where a native run finds several, and charge every event
a pause. For a contender with a monitor, the window is therefore scaled by
valgrind's slowdown, measured first (a native run and a short run under
valgrind), so that events batch as they do natively; the table says by how
much.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

DEFAULT = [
    "httpx",
    "httpx-retries",
    "rt",
    "rt-events",
    "stamina",
    "tenacity",
    "httpx2",
    "rt-httpx2",
]
WARMUP = 50


#: Hash seeds each figure is the mean over.
SEEDS = 3
#: Requests timed to measure valgrind's slowdown (natively, then under valgrind).
CALIBRATION = 300
#: The environment variable that scales the monitor's gathering window in a run.
SCALE = "RT_INSTR_GATHER_SCALE"


async def run(name: str, n: int) -> float:
    """Run ``name``'s request ``WARMUP + n`` times; return the seconds the last ``n`` took."""
    from contenders import CONTENDERS, Env

    import resilient_transport._drain as drain

    drain._GATHER *= float(os.environ.get(SCALE, "1"))
    async with CONTENDERS[name](Env("inprocess")) as runtime:
        if runtime is None:
            raise SystemExit(f"{name} does not run here")
        for _ in range(WARMUP):
            await runtime.one()
        started = time.perf_counter()
        for _ in range(n):
            await runtime.one()
        if runtime.settle is not None:
            await runtime.settle()
        return time.perf_counter() - started


def callgrind(script: str, args: list[str], seed: int, env: dict[str, str] | None = None) -> str:
    """Run ``python script *args`` under callgrind; its stderr (the count) and stdout.

    ``seed`` is the run's ``PYTHONHASHSEED``: the hash seed lays out dicts
    and sets, which moves a count by a few thousand instructions per request;
    the two runs of one difference share it.
    """
    done = subprocess.run(
        [
            *("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"),
            *(sys.executable, script, *args),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {}), "PYTHONHASHSEED": str(seed)},
    )
    return done.stderr + done.stdout


def instructions(output: str) -> int:
    """The instruction count in callgrind's ``output``."""
    found = re.search(r"Collected : (\d+)", output)
    if found is None:
        raise RuntimeError(f"no instruction count from valgrind:\n{output}")
    return int(found.group(1))


def valgrind(name: str, n: int, scale: float, seed: int = 0) -> str:
    """Run contender ``name``'s ``n`` requests under callgrind (see `callgrind`)."""
    return callgrind(__file__, ["--run", name, str(n)], seed, {SCALE: repr(scale)})


def collected(name: str, n: int, scale: float = 1.0, seed: int = 0) -> int:
    return instructions(valgrind(name, n, scale, seed))


def slowdown(name: str) -> float:
    """How many times slower ``name`` runs under callgrind than natively."""
    native = min(asyncio.run(run(name, CALIBRATION)) for _ in range(5))
    output = valgrind(name, CALIBRATION, 1.0)
    found = re.search(r"^took ([0-9.e+-]+)$", output, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no time from the run under valgrind:\n{output}")
    return float(found.group(1)) / native


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("contenders", nargs="*", default=DEFAULT)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument(
        "--gather-scale",
        type=float,
        help="scale the monitor's window by this instead of the measured slowdown",
    )
    parser.add_argument("--run", nargs=2, metavar=("CONTENDER", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(f"took {asyncio.run(run(args.run[0], int(args.run[1])))!r}")
        return
    base = None
    from report import TIMES

    notes = []
    print(f"| contender | instructions per request | {TIMES} the first row |")
    print("|---|---:|---:|")
    for name in args.contenders:
        scale = 1.0
        if "events" in name:
            scale = args.gather_scale or slowdown(name)
        if scale != 1.0:
            notes.append(f"{name}: the monitor's gathering window scaled {TIMES}{scale:.0f}")
            notes[-1] += " (given)" if args.gather_scale else " (valgrind's slowdown, measured)"
        per = 0
        for seed in range(SEEDS):
            more = collected(name, args.requests, scale, seed) - collected(name, 0, scale, seed)
            per += more // args.requests
        per //= SEEDS
        base = base or per
        print(f"| {name} | {per:,} | {per / base:.3f}{TIMES} |")
    for note in notes:
        print(f"\n{note}, so that events batch as natively.")


if __name__ == "__main__":
    main()
