"""``python -m resilient_transport``: the demo and the ``get`` command (see ``--help``)."""

from ._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
