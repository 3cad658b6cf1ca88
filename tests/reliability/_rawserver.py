"""A small HTTP/1.1 server on raw sockets, with the faults the reliability tests need.

Used in two ways:

- in the test process, polled by a thread (:class:`ServerThread`), so that it
  behaves the same whatever event loop the client runs on;
- as a subprocess (``python _rawserver.py flap UP DOWN``): a server that keeps
  going down and coming back, listening for ``UP`` seconds then closing its
  listening socket for ``DOWN`` seconds, until its stdin closes. It starts
  down, and starts flapping when a line arrives on its stdin. It prints its
  port on the first line, and on exit one JSON line with what it served.

It is self-contained (standard library only) so that the subprocess needs no
import path. Every response carries ``Connection: close``: one request per
connection, so every attempt of the client opens a fresh one.

Modes, for a request that was read completely:

- ``ok``: answer ``200 ok`` and close;
- ``reset``: close with ``SO_LINGER`` 0, which sends a TCP reset (a crash
  after reading the request);
- ``hang``: keep the connection open and never answer.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import random
import selectors
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
# Seconds the flapping server stays down at most before its go-ahead.
_FIRST_DOWN = 5.0
# A request head larger than this is not one of ours: drop the connection.
_MAX_HEAD = 65_536


def reserve_socket(port: int = 0) -> socket.socket:
    """Return a TCP socket bound to ``127.0.0.1:port`` and not listening.

    Until it listens, a connection to its port is refused at once (the
    kernel answers the SYN with a reset): a server that is down.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
    except BaseException:
        sock.close()
        raise
    return sock


def _header(head: bytes, wanted: bytes) -> str:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == wanted:
            return value.strip().decode("latin-1")
    return ""


class RawHttpServer:
    """A single-threaded, non-blocking HTTP/1.1 server driven by :meth:`poll`.

    Attributes:
        received: Requests read completely, per ``X-Request-Id``.
        bodies: The body of every request read, per ``X-Request-Id``.
        served: Responses written, per ``X-Request-Id``.
        accepted: Connections accepted.
    """

    def __init__(self, mode: str = "ok", sock: socket.socket | None = None) -> None:
        if mode not in ("ok", "reset", "hang"):
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        self.received: collections.Counter[str] = collections.Counter()
        self.served: collections.Counter[str] = collections.Counter()
        self.bodies: dict[str, list[bytes]] = collections.defaultdict(list)
        self.accepted = 0
        self._selector = selectors.DefaultSelector()
        self._listener: socket.socket | None = None
        self._reserved = sock
        self._buffers: dict[socket.socket, bytearray] = {}
        self._held: list[socket.socket] = []

    @property
    def listening(self) -> bool:
        """Whether the server accepts connections now."""
        return self._listener is not None

    def listen(self, port: int = 0) -> int:
        """Start listening (on the reserved socket if any); return the port."""
        sock = self._reserved if self._reserved is not None else reserve_socket(port)
        self._reserved = None
        sock.setblocking(False)
        sock.listen(1024)
        self._listener = sock
        self._selector.register(sock, selectors.EVENT_READ)
        return int(sock.getsockname()[1])

    def close_listener(self) -> None:
        """Stop listening; connections already accepted are still served."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        # Accept what the kernel has already queued: closing the listener
        # would reset those connections, which the client saw as established.
        self._accept_all(listener)
        self._selector.unregister(listener)
        listener.close()

    def _accept_all(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            self.accepted += 1
            conn.setblocking(False)
            self._buffers[conn] = bytearray()
            self._selector.register(conn, selectors.EVENT_READ)

    def _drop(self, conn: socket.socket) -> None:
        self._selector.unregister(conn)
        del self._buffers[conn]

    def _on_readable(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(65_536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        buffer = self._buffers[conn]
        buffer += data
        end = buffer.find(b"\r\n\r\n")
        if not data or (end < 0 and len(buffer) > _MAX_HEAD):
            self._drop(conn)
            conn.close()
            return
        if end < 0:
            return
        head = bytes(buffer[:end])
        length = _header(head, b"content-length")
        size = int(length) if length.isdigit() else 0
        if len(buffer) < end + 4 + size:
            return  # the whole request is read before anything else happens
        self._drop(conn)
        request_id = _header(head, b"x-request-id")
        self.received[request_id] += 1
        self.bodies[request_id].append(bytes(buffer[end + 4 : end + 4 + size]))
        if self.mode == "hang":
            self._held.append(conn)
            return
        if self.mode == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
            return
        # Counted before sending: the client may look as soon as it has the answer.
        self.served[request_id] += 1
        try:
            conn.setblocking(True)
            conn.sendall(RESPONSE)
        except OSError:
            self.served[request_id] -= 1  # never reached the client
        finally:
            conn.close()

    def poll(self, timeout: float) -> list[int]:
        """Handle what is ready within ``timeout`` seconds; return other ready fds."""
        others: list[int] = []
        if not self._selector.get_map():
            time.sleep(timeout)
            return others
        for key, _ in self._selector.select(timeout):
            sock = key.fileobj
            if sock is self._listener:
                self._accept_all(sock)
            elif isinstance(sock, socket.socket):
                self._on_readable(sock)
            else:
                others.append(key.fd)
        return others

    def watch(self, fd: int) -> None:
        """Also report ``fd`` from :meth:`poll` when it is readable."""
        self._selector.register(fd, selectors.EVENT_READ)

    def close(self) -> None:
        """Close every socket."""
        self.close_listener()
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None
        for conn in [*self._buffers, *self._held]:
            conn.close()
        self._buffers.clear()
        self._held.clear()
        self._selector.close()


class ServerThread:
    """Runs a :class:`RawHttpServer` in a thread of the test process.

    With ``up=False`` the server is down (connections refused) until
    :meth:`bring_up`; by default it listens before the thread starts.
    """

    def __init__(self, server: RawHttpServer, *, up: bool = True) -> None:
        self.server = server
        self._up = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        if up:
            server.listen()

    def bring_up(self) -> None:
        """Make the server listen; connections made after this call are queued at once."""
        reserved = self.server._reserved
        if reserved is not None:
            # Listen now, in the caller's thread: from here on the kernel
            # queues connections, whenever the server thread gets to them.
            reserved.listen(1024)
        self._up.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._up.is_set() and not self.server.listening:
                self.server.listen()
            self.server.poll(0.01)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self.server.close()


@contextlib.contextmanager
def serving(mode: str = "ok", *, up: bool = True) -> Iterator[tuple[RawHttpServer, ServerThread]]:
    """Run a server of ``mode`` on a reserved 127.0.0.1 port in a thread."""
    server = RawHttpServer(mode, reserve_socket())
    with ServerThread(server, up=up) as thread:
        yield server, thread


def port_of(server: RawHttpServer) -> int:
    """The server's port (reserved or listening)."""
    sock = server._listener if server._listener is not None else server._reserved
    assert sock is not None
    return int(sock.getsockname()[1])


def _pick_port() -> socket.socket:
    """Reserve a port below the ephemeral range.

    The flapping server's port is free half of the time: an ephemeral port
    could be handed to a client's own outgoing connection meanwhile (even to
    a connection to itself), so it is taken from outside that range.
    """
    low = 20_000
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as file:
            first = int(file.read().split()[0])
    except (OSError, ValueError, IndexError):
        first = 32_768
    high = max(low + 1000, first - 1)
    for _ in range(200):
        try:
            return reserve_socket(random.randint(low, high))
        except OSError:
            continue
    raise RuntimeError("no free port below the ephemeral range")


def flap(up: float, down: float) -> None:
    """Run the flapping server until stdin closes; see the module docstring."""
    sock = _pick_port()
    port = int(sock.getsockname()[1])
    server = RawHttpServer("ok", sock)
    server.watch(sys.stdin.fileno())
    cycles = 0
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    # It starts down and stays down until a line arrives on stdin (or for
    # _FIRST_DOWN at most): the client says when its first connect has been
    # refused, so the faults happen whatever the machine's speed (a fast run
    # could otherwise slip every connect into the up phases).
    deadline = time.monotonic() + _FIRST_DOWN
    running = True
    while running:
        now = time.monotonic()
        if now >= deadline:
            if server.listening:
                server.close_listener()
                deadline = now + down
            else:
                server.listen(port)
                cycles += 1
                deadline = now + up
        for _fd in server.poll(max(0.0, min(deadline - now, 0.005))):
            if not os.read(sys.stdin.fileno(), 4096):
                running = False
            elif not cycles and not server.listening:
                deadline = time.monotonic()  # the go-ahead: start flapping now
    server.close()
    report = {
        "served": server.served,
        "received": server.received,
        "accepted": server.accepted,
        "cycles": cycles,
    }
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "flap":
        sys.exit("usage: _rawserver.py flap UP_SECONDS DOWN_SECONDS")
    flap(float(sys.argv[2]), float(sys.argv[3]))
