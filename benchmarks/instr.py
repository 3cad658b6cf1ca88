"""Instructions per request of the in-process contenders, counted by callgrind.

    python benchmarks/instr.py [CONTENDER ...]          # the table (needs valgrind)
    python benchmarks/instr.py --run CONTENDER N        # what valgrind runs

callgrind counts the instructions a process executes, whatever else the
machine is doing: the figures repeat to the last digit, where a timing on a
shared two-core machine moves by several per cent. Each contender runs its
``one()`` 50 + N times and 50 times, each under valgrind; the difference
divided by N is the cost of one request (start-up and warm-up cancel out).
The contenders are the in-process scenario's (``contenders``,
``Env("inprocess")``). Results: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
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


async def run(name: str, n: int) -> None:
    from contenders import CONTENDERS, Env

    async with CONTENDERS[name](Env("inprocess")) as runtime:
        if runtime is None:
            raise SystemExit(f"{name} does not run here")
        for _ in range(WARMUP + n):
            await runtime.one()
        if runtime.settle is not None:
            await runtime.settle()


def collected(name: str, n: int) -> int:
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--run",
            name,
            str(n),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from valgrind:\n{done.stderr}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("contenders", nargs="*", default=DEFAULT)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--run", nargs=2, metavar=("CONTENDER", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        asyncio.run(run(args.run[0], int(args.run[1])))
        return
    base = None
    from report import TIMES

    print(f"| contender | instructions per request | {TIMES} the first row |")
    print("|---|---:|---:|")
    for name in args.contenders:
        per = (collected(name, args.requests) - collected(name, 0)) // args.requests
        base = base or per
        print(f"| {name} | {per:,} | {per / base:.3f}{TIMES} |")


if __name__ == "__main__":
    main()
