"""What the command line's test modules share: running the command, the refused line."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFUSED = f"ConnectError: [Errno {errno.ECONNREFUSED}] {os.strerror(errno.ECONNREFUSED)}"
# A real-time bound on every subprocess; the demo itself must take under 10 s.
SUBPROCESS_TIMEOUT = 60.0


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    return subprocess.run(
        [sys.executable, "-m", "resilient_transport", *args],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        cwd=ROOT,
        env=env,
        check=False,
    )


def lines_of(text: str) -> list[str]:
    return text.strip("\n").splitlines()
