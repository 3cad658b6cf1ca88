"""How results are reported: the machine and packages, medians, ratios, the checks.

Figures are printed as Markdown tables; a ratio is computed within each
round (against the baseline measured in the same round), then its median
taken, with its range over the rounds.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import statistics
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness import Entry

TIMES, DASH, MINUS = "\u00d7", "\u2013", "\u2212"  # for the Markdown tables
PACKAGES = [
    "resilient-transport",
    "httpx",
    "httpcore",
    "httpx2",
    "httpcore2",
    "h11",
    "anyio",
    "aiohttp",
    "aiohttp-retry",
    "httpx-aiohttp",
    "httpx-retries",
    "tenacity",
    "stamina",
    "psutil",
]


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "-"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(terse=True),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "packages": versions,
    }


def print_machine(info: dict[str, Any]) -> None:
    print(
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['python']}, {info['platform']}; "
        f"load average at start {info['load']}"
    )
    print("Packages: " + ", ".join(f"{k} {v}" for k, v in info["packages"].items()))


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def ratios(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """Round-by-round ratios ``a[i] / b[i]``."""
    return [x / y for x, y in zip(a, b, strict=True)]


def fmt_ratio(values: Sequence[float]) -> str:
    return f"{median(values):.3f}{TIMES}" if values else "-"


def fmt_range(values: Sequence[float]) -> str:
    return f"{min(values):.3f}{DASH}{max(values):.3f}" if values else "-"


def report_checks(live: list[Entry], expected_events: Callable[[Entry], int]) -> None:
    for entry in live:
        if "events" in entry.stats:
            want, got = expected_events(entry), entry.stats["events"]
            dropped = entry.stats["dropped"]
            flag = "" if got == want and not dropped else " WARNING: events were lost"
            print(
                f"\n{entry.label}: {got:,} events reached the monitor's callback "
                f"(expected {want:,}), {dropped} dropped.{flag}"
            )
