"""``docs/retry_table.py``, loaded for the tests: it is a script beside the docs, not a module."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

PATH = Path(__file__).resolve().parent.parent / "docs" / "retry_table.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("retry_table", PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, as an import would: its dataclass needs it.
    sys.modules.setdefault("retry_table", module)
    spec.loader.exec_module(module)
    return module


table = _load()
