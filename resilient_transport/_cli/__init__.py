"""The command line: ``demo`` (watch retries happen) and ``get URL`` (a one-off request).

Run as ``python -m resilient_transport`` or ``resilient-transport``; never
imported by ``import resilient_transport``.

- ``commands``: the arguments and ``main``, the entry point;
- ``get``: the ``get`` command;
- ``demo`` and ``demo_server``: the demo, and its server that comes up late;
- ``describe``: the one-line descriptions of errors, retries and outcomes
  that ``get`` and the demo share.
"""

from .commands import main

__all__ = ["main"]
