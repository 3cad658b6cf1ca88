"""The scenarios, one module each; :data:`SCENARIOS` is what ``run.py`` offers, in order.

A scenario module defines ``SCENARIO`` (a :class:`harness.Scenario`: its
default contenders, rounds and requests, and the function that runs it and
prints its table); one whose contenders each run in a fresh process also
defines ``child``, what that process runs (``run.py --child``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from harness import Scenario

from . import (
    backoff_memory,
    failure,
    hedging,
    inprocess,
    loopback,
    memory,
    monitor,
    monitor_wait,
    outage,
    results_memory,
)

#: Every scenario, by the name used on the command line (``--list`` order).
SCENARIOS: dict[str, Scenario] = {
    module.SCENARIO.name: module.SCENARIO
    for module in (
        inprocess,
        loopback,
        failure,
        monitor,
        monitor_wait,
        memory,
        results_memory,
        backoff_memory,
        outage,
        hedging,
    )
}

#: What a fresh process runs, by its ``--child`` name.
CHILDREN: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "memory": memory.child,
    "backoff": backoff_memory.child,
}
