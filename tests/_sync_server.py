"""A small threaded HTTP/1.1 server on 127.0.0.1 for the synchronous tests.

The async tests' server (``tests/_server.py``) runs in the test's event loop,
which a synchronous test does not have; this one runs ``http.server`` in a
thread of its own. The path says what it does:

- ``/status/<code>``: answer with that status (body ``"<code>"``);
- ``/hang``: read the request and never answer (until the server stops);
- ``/reset``: read the request, then reset the connection (a ``ReadError``);
- ``/garbage``: answer with bytes that are not HTTP (a ``RemoteProtocolError``);
- anything else: ``200``, body ``"<METHOD> <path>"``.

It counts the TCP connections it accepted and the requests it read.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.connections = 0
        self.requests: list[str] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def shutdown_request(self, request: Any) -> None:
        if request.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8) != struct.pack("ii", 0, 0):
            self.close_request(request)  # no FIN first: closing with linger 0 resets
            return
        super().shutdown_request(request)

    def get_request(self) -> tuple[socket.socket, Any]:
        accepted = super().get_request()
        with self.lock:
            self.connections += 1
        return accepted


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        del body
        with self.server.lock:
            self.server.requests.append(f"{self.command} {self.path}")
        if self.path == "/hang":
            self.server.stopping.wait()
            self.close_connection = True
            return
        if self.path == "/reset":
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            self.close_connection = True
            return
        if self.path == "/garbage":
            self.wfile.write(b"this is not HTTP\r\n\r\n")
            self.close_connection = True
            return
        if self.path.startswith("/status/"):
            status, text = int(self.path.rsplit("/", 1)[1]), self.path.rsplit("/", 1)[1]
        else:
            status, text = 200, f"{self.command} {self.path}"
        payload = text.encode()
        self.send_response(status)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_PUT = do_DELETE = do_GET


class SyncServer:
    """What a test sees of the server: its base URL and its counts."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        host, port = server.server_address[:2]
        self.url = f"http://{host!s}:{port}"

    @property
    def connections(self) -> int:
        """TCP connections accepted so far."""
        return self._server.connections

    @property
    def requests(self) -> list[str]:
        """``"<METHOD> <path>"`` of every request read, in order."""
        with self._server.lock:
            return list(self._server.requests)


@contextlib.contextmanager
def sync_serving() -> Iterator[SyncServer]:
    """Run a `SyncServer` on 127.0.0.1 for the duration of the block."""
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, name="sync-test-server")
    thread.start()
    try:
        yield SyncServer(server)
    finally:
        server.stopping.set()
        server.shutdown()
        thread.join()
        server.server_close()
