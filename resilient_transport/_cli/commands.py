"""The arguments of the command line, and its entry point: ``main``."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Awaitable, Callable, Sequence

import anyio

from resilient_transport._context import DEFAULT_BASE_DELAY, DEFAULT_MAX_RETRIES
from resilient_transport._redact import redact_url
from resilient_transport._stack import httpx
from resilient_transport._version import __version__

from .get import DEFAULT_TIMEOUT, EXIT_HTTP_ERROR, run_get

__all__ = ["main"]

#: Bad arguments (argparse's own code). The other statuses are the commands'.
EXIT_USAGE = 2
#: Interrupted by Ctrl-C: 128 + SIGINT, as shells report it.
EXIT_INTERRUPTED = 130

# The highest TCP port; 0 is no port to connect to either.
_MAX_PORT = 65_535

_GET_EPILOG = """\
Retries are shown on stderr as they happen, one line each, then the status
line ("HTTP/1.1 200 OK"); the response body goes to stdout as received. By
default only connection failures are retried: the request never left, so a
retry is always safe, whatever the method. A URL without a scheme gets
http://. Redirects are not followed; proxy environment variables are honoured.
Credentials in the URL, and the values of secret query parameters (api_key,
token, sig...), are sent, never printed: they show as REDACTED.

exit status:
  0    an HTTP response arrived, whatever its status (as with curl)
  1    no response: the request failed after its retries; or reading the body
       failed; or stdout was closed early (| head)
  2    bad arguments, or a URL that cannot be requested (say, port 99999)
  22   --fail was given and the status is 400 or more (the body is still printed)
  130  interrupted
"""

_DEMO_EPILOG = """\
Starts an HTTP server on 127.0.0.1 that refuses connections for its first
1.5 seconds, sends three requests at once, each with its own RequestContext
(one with too few retries to outlast the outage), prints every retry and
outcome as it happens, then a table per request. No internet needed. Takes
about 2 seconds; exits 0 when the demo ran, though one request gives up by
design (1 if its server could not start).
"""


# -- arguments ------------------------------------------------------------------


def _retries(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _seconds(text: str, *, positive: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise argparse.ArgumentTypeError(f"must be a finite number {bound}, got {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    return _seconds(text, positive=True)


class _InvalidURL(ValueError):
    """A URL ``get`` cannot request; its message is one line, with no secret."""


def _http_url(text: str) -> httpx.URL:
    """The URL to request, or ``_InvalidURL`` saying what is wrong with it."""
    if "://" not in text:
        text = "http://" + text  # as curl does
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise _InvalidURL(f"invalid URL {redact_url(text)}: {exc}") from None
    # httpx accepts these; a request would then fail in the socket layer, in
    # a different way on each async library (a traceback on asyncio).
    if url.scheme not in ("http", "https"):
        problem = f"the scheme must be http or https, got {url.scheme!r}"
    elif not url.host:
        problem = "no host"
    elif url.port is not None and not 1 <= url.port <= _MAX_PORT:
        problem = f"the port must be 1 to {_MAX_PORT}, got {url.port}"
    else:
        return url
    raise _InvalidURL(f"invalid URL {redact_url(text)}: {problem}")


def _trio_available() -> bool:
    try:
        import trio  # noqa: F401
    except ImportError:
        return False
    return True


def _prog() -> str:
    name = os.path.basename(sys.argv[0]) if sys.argv else ""
    return "python -m resilient_transport" if name in ("", "__main__.py") else name


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_prog(),
        description="A drop-in httpx transport that retries what is safe to retry, "
        "and tells you about it. Start with the demo: %(prog)s demo",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    backend = argparse.ArgumentParser(add_help=False)
    backend.add_argument(
        "--backend",
        choices=("asyncio", "trio"),
        default="asyncio",
        help="the async library to run on (default: %(default)s)",
    )

    commands.add_parser(
        "demo",
        parents=[backend],
        help="watch retries happen against a local server that comes up late",
        description="Watch retries happen against a local server that comes up late.",
        epilog=_DEMO_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    get = commands.add_parser(
        "get",
        parents=[backend],
        help="GET a URL, retrying connection failures; body to stdout",
        description="GET a URL, retrying connection failures; the body goes to stdout.",
        epilog=_GET_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Checked after parsing, to report a bad URL in one line (not argparse's usage).
    get.add_argument("url", metavar="URL", help="the http:// or https:// URL")
    get.add_argument(
        "--max-retries",
        metavar="N",
        type=_retries,
        default=DEFAULT_MAX_RETRIES,
        help="retries after the first attempt (default: %(default)s)",
    )
    get.add_argument(
        "--base-delay",
        metavar="S",
        type=_seconds,
        default=DEFAULT_BASE_DELAY,
        help="seconds before the first retry, doubling after, with jitter (default: %(default)s)",
    )
    get.add_argument(
        "--timeout",
        metavar="S",
        type=_positive_seconds,
        default=DEFAULT_TIMEOUT,
        help="seconds each attempt may take to connect, write, read (default: %(default)s)",
    )
    get.add_argument(
        "--fail",
        action="store_true",
        help=f"exit {EXIT_HTTP_ERROR} if the status is 400 or more",
    )
    return parser


def _run(func: Callable[[], Awaitable[int]], backend: str) -> int:
    return anyio.run(func, backend=backend)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Args:
        argv: The arguments, without the program name; default ``sys.argv[1:]``.

    Returns:
        The exit status: see ``--help`` of each command. Bad arguments give 2
        (and argparse's message on stderr, or for a URL that cannot be
        requested one line naming it), ``--help`` and ``--version`` 0.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if args.backend == "trio" and not _trio_available():
            parser.error("--backend trio needs the trio package: pip install trio")
    except SystemExit as exc:  # --help, --version: 0; bad arguments: 2
        return int(exc.code or 0)
    out, err = sys.stdout, sys.stderr
    if args.command == "get":
        try:
            args.url = _http_url(args.url)
        except _InvalidURL as exc:
            print(f"error: {exc}", file=err, flush=True)
            return EXIT_USAGE
    try:
        if args.command == "demo":
            from .demo import run_demo  # the demo's server: only for the demo

            return _run(lambda: run_demo(out=out, err=err), args.backend)
        return _run(lambda: run_get(args, out, err), args.backend)
    except KeyboardInterrupt:
        print("error: interrupted", file=err, flush=True)
        return EXIT_INTERRUPTED
