"""pytest with httpx2 standing in for httpx, process-wide: the suite on httpx2.

``httpx2.alias_httpx()`` makes every ``import httpx`` (the tests', respx's,
the library's) resolve to httpx2, and ``import httpcore`` to httpcore2. It
must run before anything imports httpx, so before pytest loads its plugins:
hence this launcher rather than a conftest.py. Arguments go to pytest.
``RT_TEST_STACK`` tells tests/test_stack.py which stack to expect.
"""

import os
import sys

import httpx2

httpx2.alias_httpx()
os.environ["RT_TEST_STACK"] = "httpx2"

import pytest  # noqa: E402 - after the alias, on purpose

# httpx2 imported anyio (and so its pytest plugin) before pytest could
# rewrite its asserts: harmless, and the only warning this launcher causes.
ALREADY_IMPORTED = (
    "ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning"
)
sys.exit(pytest.main(["-W", ALREADY_IMPORTED, *sys.argv[1:]]))
