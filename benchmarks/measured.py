"""Which resilient_transport the benchmarks measure: the one place that decides.

This checkout's (the directory above ``benchmarks/``), unless the
environment variable ``RT_BENCH_TREE`` names another source tree:
``benchmarks/ab.py`` sets it (and puts that tree first on ``PYTHONPATH``) to
run this checkout's benchmarks against another version of the library.
Every script calls :func:`use_library` before anything imports
resilient_transport; it stops the run if the library came from elsewhere,
so that a comparison can never measure the wrong tree.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: The benchmarks' own directory (the harness, contenders and scenarios).
HERE = Path(__file__).resolve().parent
#: The environment variable that names the source tree to measure.
TREE_VARIABLE = "RT_BENCH_TREE"


def library_root() -> Path:
    """The root of the source tree whose ``resilient_transport`` is measured."""
    return Path(os.environ.get(TREE_VARIABLE) or HERE.parent).resolve()


def use_library() -> Path:
    """Put the measured tree, then the benchmarks' directory, first on ``sys.path``.

    Returns:
        The measured tree's root.

    Raises:
        SystemExit: ``resilient_transport`` is importable, but not from that tree.
    """
    root = library_root()
    sys.path[:0] = [str(root), str(HERE)]
    import resilient_transport

    found = Path(resilient_transport.__file__).resolve()
    if not found.is_relative_to(root):
        raise SystemExit(f"resilient_transport was imported from {found}, not from {root}")
    return root
