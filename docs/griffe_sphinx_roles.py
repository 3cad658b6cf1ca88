"""A griffe extension for the API reference: Sphinx roles in docstrings become inline code.

The docstrings use Sphinx-style roles (``:class:`RequestContext```), which
read well in ``help()`` but which mkdocstrings would print verbatim. This
turns each into inline code (``RequestContext``), dropping a leading ``~``
the way Sphinx does. mkdocs.yml loads it through mkdocstrings' ``extensions``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|data|mod|attr|exc|obj|const):`(?P<target>[^`]+)`")


def _replace(match: re.Match[str]) -> str:
    target = match["target"]
    if target.startswith("~"):
        target = target[1:].rsplit(".", 1)[-1]
    return f"`{target}`"


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring as inline code."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ":" in obj.docstring.value:
            obj.docstring.value = _ROLE.sub(_replace, obj.docstring.value)
