"""The ``get URL`` command: one request, its retries on stderr, its body on stdout."""

from __future__ import annotations

import argparse
import codecs
import os
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

import anyio

from resilient_transport import AsyncEvent, AsyncResilientClient, EventType
from resilient_transport._context import DEFAULT_MAX_DELAY
from resilient_transport._stack import httpx

from .describe import describe_retry, failure_message, status_failure_message

__all__ = [
    "DEFAULT_TIMEOUT",
    "EXIT_FAILED",
    "EXIT_HTTP_ERROR",
    "EXIT_OK",
    "run_get",
]

EXIT_OK = 0
#: No response: the request failed after its retries, or reading the body did.
EXIT_FAILED = 1
#: ``get --fail`` and a status >= 400: curl's code for ``--fail``.
EXIT_HTTP_ERROR = 22

#: Seconds each attempt of ``get`` may take, per phase, by default.
DEFAULT_TIMEOUT = 10.0

# The request id of `get`'s one request, to find its result in the monitor.
_REQUEST_ID = "get"

# How `get` sleeps between attempts; tests replace it to run without waiting.
_sleep: Callable[[float], Awaitable[Any]] = anyio.sleep


class _BodyWriter:
    """Writes the body's bytes to a text stream's binary buffer, or decodes them."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._buffer = getattr(out, "buffer", None)
        # For a text-only stream: decoding must not split a character
        # spread over two chunks.
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def write(self, chunk: bytes) -> None:
        if self._buffer is not None:
            self._buffer.write(chunk)
        else:
            self._out.write(self._decoder.decode(chunk))

    def close(self) -> None:
        if self._buffer is None:
            self._out.write(self._decoder.decode(b"", final=True))
        self._out.flush()


def _detach_stdout(out: TextIO) -> None:
    """Point ``out``'s descriptor at devnull, so the exit-time flush stays quiet.

    The reader went away (``get URL | head``); without this, Python reports
    the failed final flush of stdout on exit.
    """
    try:
        fd = out.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


async def run_get(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run ``get`` with the parsed ``args`` (its URL already checked); return the exit status."""
    url: httpx.URL = args.url

    def on_retry(event: AsyncEvent) -> None:
        print(describe_retry(event), file=err, flush=True)

    client = AsyncResilientClient(
        max_retries=args.max_retries,
        base_delay=args.base_delay,
        max_delay=max(DEFAULT_MAX_DELAY, args.base_delay),
        sleep=_sleep,
        timeout=args.timeout,
        max_results=1,
    )
    writer = _BodyWriter(out)
    answered = False
    async with client:
        client.add_event_callback(EventType.RETRY, on_retry)
        try:
            async with client.stream(
                "GET", url, extensions={"retry": {"request_id": _REQUEST_ID}}
            ) as response:
                answered = True
                await client.wait_for_all_requests()  # every retry line before the status
                print(
                    f"{response.http_version} {response.status_code} {response.reason_phrase}",
                    file=err,
                    flush=True,
                )
                async for chunk in response.aiter_bytes():
                    writer.write(chunk)
                writer.close()
        except httpx.HTTPError as exc:
            await client.wait_for_all_requests()
            result = client.get_result(_REQUEST_ID)
            attempts = result.attempts if result is not None else None
            print(failure_message(exc, url, attempts, answered=answered), file=err, flush=True)
            return EXIT_FAILED
        except BrokenPipeError:
            _detach_stdout(out)
            return EXIT_FAILED
    if args.fail and response.status_code >= 400:
        message = status_failure_message(url, response.status_code, response.reason_phrase)
        print(message, file=err, flush=True)
        return EXIT_HTTP_ERROR
    return EXIT_OK
