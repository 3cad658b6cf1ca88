#!/usr/bin/env python
"""A/B: the same benchmark command against two source trees, alternated, side by side.

    python benchmarks/ab.py A_TREE B_TREE [--runs N] [--save DIR] [--columns TEXT]
                            -- [SCRIPT.py] BENCHMARK-ARGUMENTS...

Runs ``python benchmarks/SCRIPT.py BENCHMARK-ARGUMENTS`` (``run.py`` unless
a script is named) ``N`` times for each tree, alternating A, B, A, B, ...,
each in a fresh process with that tree's root first on ``PYTHONPATH`` and in
``RT_BENCH_TREE`` (see ``measured.py``, which stops a run whose
resilient_transport came from elsewhere). The benchmark code is always this
checkout's ``benchmarks/``: only the library changes between A and B.

Every number in the Markdown tables the command prints is collected, run by
run; for each table column, ab.py prints a table of its median over A's runs,
over B's runs, and B / A. The ratios the scenarios compute within each
round (against bare httpx) are compared the same way, as medians of runs.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
TREE_VARIABLE = "RT_BENCH_TREE"  # the variable measured.py reads
_NUMBER = re.compile(r"^([+\-\u2212]?)(\d[\d,]*(?:\.(\d+))?)(\s*(?:\u00d7|%|ms|µs|B|MiB)?)$")
_RULE = re.compile(r"^\|(\s*:?-+:?\s*\|)+$")


@dataclass
class Column:
    """One numeric column of one table: per row label, per side, the value of each run."""

    table: str  # the table's first header cell, which names what its rows are
    header: str
    decimals: int = 0
    suffix: str = ""
    values: dict[str, dict[str, list[float]]] = field(default_factory=dict)


def parse_number(cell: str) -> tuple[float, int, str] | None:
    """``"1,234.5 ms"`` -> ``(1234.5, 1, " ms")``; None for anything but one number."""
    match = _NUMBER.match(cell.strip())
    if match is None:
        return None
    sign, digits, decimals, suffix = match.groups()
    value = float(digits.replace(",", ""))
    return (-value if sign else value), len(decimals or ""), suffix


def tables(text: str) -> Iterator[tuple[list[str], list[list[str]]]]:
    """Every Markdown table in ``text``: its header cells and its rows' cells."""
    lines = text.splitlines()
    index = 0
    while index < len(lines) - 1:
        if lines[index].startswith("|") and _RULE.match(lines[index + 1].strip()):
            header = [c.strip() for c in lines[index].strip().strip("|").split("|")]
            rows = []
            index += 2
            while index < len(lines) and lines[index].startswith("|"):
                rows.append([c.strip() for c in lines[index].strip().strip("|").split("|")])
                index += 1
            yield header, rows
        else:
            index += 1


def collect(columns: dict[tuple[int, str], Column], side: str, text: str) -> None:
    """Add one run's numbers to ``columns``, keyed by (table number, column header)."""
    for number, (header, rows) in enumerate(tables(text)):
        for position, title in enumerate(header[1:], start=1):
            column = columns.setdefault((number, title), Column(header[0], title))
            for row in rows:
                parsed = parse_number(row[position]) if position < len(row) else None
                if parsed is None:
                    continue
                value, decimals, suffix = parsed
                column.decimals = max(column.decimals, decimals)
                column.suffix = column.suffix or suffix
                sides = column.values.setdefault(row[0], {"A": [], "B": []})
                sides[side].append(value)


def fmt(column: Column, values: Sequence[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):,.{column.decimals}f}{column.suffix}"


def spread(column: Column, values: Sequence[float]) -> str:
    if not values:
        return "-"
    low, high = min(values), max(values)
    return f"{low:,.{column.decimals}f}\u2013{high:,.{column.decimals}f}"


def report(columns: dict[tuple[int, str], Column], wanted: list[str]) -> None:
    for column in columns.values():
        if not column.values:
            continue  # a text column
        if wanted and not any(w in column.header for w in wanted):
            continue
        print(f"\n**{column.header}** (median over the runs)\n")
        print(f"| {column.table} | A | B | B / A | A, range over runs | B, range over runs |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, sides in column.values.items():
            a, b = sides["A"], sides["B"]
            ratio = "-"
            if a and b and statistics.median(a):
                ratio = f"{statistics.median(b) / statistics.median(a):.3f}"
            print(
                f"| {label} | {fmt(column, a)} | {fmt(column, b)} | {ratio} "
                f"| {spread(column, a)} | {spread(column, b)} |"
            )


def run_once(python: str, tree: Path, command: list[str], timeout: float) -> tuple[str, str]:
    """One run of the benchmark with ``tree``'s library; returns its stdout and stderr."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree), env.get("PYTHONPATH")]))
    env[TREE_VARIABLE] = str(tree)
    out = subprocess.run(
        [python, *command], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if out.returncode:
        raise RuntimeError(
            f"the run with {tree} failed (exit status {out.returncode}):\n"
            f"{out.stdout[-2000:]}{out.stderr[-4000:]}"
        )
    return out.stdout, out.stderr


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    own, command = (
        (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    )
    parser = argparse.ArgumentParser(
        description="The same benchmark command against two source trees, alternated.",
        usage="%(prog)s A_TREE B_TREE [options] -- [SCRIPT.py] BENCHMARK-ARGUMENTS...",
        epilog="Example: %(prog)s ../before . --runs 5 -- --scenario inprocess",
    )
    parser.add_argument("a", type=Path, metavar="A_TREE", help="source tree A (before)")
    parser.add_argument("b", type=Path, metavar="B_TREE", help="source tree B (after)")
    parser.add_argument("--runs", type=int, default=5, help="runs per tree (default 5)")
    parser.add_argument("--python", default=sys.executable, help="default: this interpreter")
    parser.add_argument("--save", type=Path, help="write each run's output to DIR/A-1.txt, ...")
    parser.add_argument(
        "--columns", default="", help="comma-separated: only columns whose header contains one"
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per run")
    args = parser.parse_args(own)
    if not command:
        parser.error("no benchmark command: put its arguments after --")
    trees = {"A": args.a.resolve(), "B": args.b.resolve()}
    for side, tree in trees.items():
        if not (tree / "resilient_transport" / "__init__.py").is_file():
            parser.error(f"{side}: {tree} has no resilient_transport/ package")
    script = command.pop(0) if command[0].endswith(".py") else "run.py"
    full = [str(HERE / script), *command]
    shown = shlex.join(["python", f"benchmarks/{script}", *command])
    print(f"Command: python benchmarks/ab.py {shlex.join(argv)}")
    print(f"A: {trees['A']}\nB: {trees['B']}")
    print(
        f"{args.runs} run(s) of `{shown}` per tree, alternating A, B; benchmarks from {HERE}",
        flush=True,
    )
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)

    columns: dict[tuple[int, str], Column] = {}
    warnings: list[str] = []
    for index in range(1, args.runs + 1):
        for side, tree in trees.items():
            start = time.perf_counter()
            try:
                stdout, stderr = run_once(args.python, tree, full, args.timeout)
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                print(f"\n{side}, run {index}: {error}", file=sys.stderr)
                return 1
            if args.save:
                (args.save / f"{side}-{index}.txt").write_text(stdout + stderr)
            collect(columns, side, stdout)
            warnings += [
                f"{side}, run {index}: {w}" for w in stdout.splitlines() if "WARNING" in w
            ]
            load = re.search(r"load average at start (\S+)", stdout)
            print(
                f"  run {index}/{args.runs}, {side}: {time.perf_counter() - start:.0f} s"
                + (f", load average at start {load.group(1)}" if load else ""),
                file=sys.stderr,
                flush=True,
            )
    report(columns, [w for w in args.columns.split(",") if w])
    for warning in warnings:
        print(f"\n{warning}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
