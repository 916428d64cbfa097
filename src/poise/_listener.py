"""A small, bounded HTTP listener on a thread of its own: the probe port and the admin port.

The standard library's threaded server is enough for what these ports answer (rare,
tiny requests, one per connection), once it is bounded: at most ``max_connections`` are
served at once (more are closed at once), each connection is closed
``connection_deadline`` seconds after it was accepted whatever it is doing (the socket
timeout bounds each read; this bounds the whole connection, so a client trickling a byte
a second cannot keep a slot), and nothing of a client's request reaches the log.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["BoundedServer", "DeadlineHandler", "Listener"]


class BoundedServer(ThreadingHTTPServer):
    """Serves at most ``max_connections`` connections at once, each on a daemon thread."""

    daemon_threads = True
    allow_reuse_address = True
    max_connections = 32

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self.slots = threading.BoundedSemaphore(self.max_connections)
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client gone mid-answer (or cut off at the deadline): nothing to report

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class DeadlineHandler(BaseHTTPRequestHandler):
    """Closes its connection ``connection_deadline`` seconds after it was accepted."""

    connection_deadline = 1.0

    def version_string(self) -> str:
        return self.server_version  # not "... Python/3.x": nothing to fingerprint

    def setup(self) -> None:
        super().setup()
        self._deadline = threading.Timer(self.connection_deadline, self._expire)
        self._deadline.daemon = True
        self._deadline.start()

    def finish(self) -> None:
        self._deadline.cancel()
        super().finish()

    def _expire(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # nothing of a client's request goes to the log


class Listener:
    """A :class:`BoundedServer` serving on a daemon thread of its own until :meth:`stop`.

    Attributes:
        port: the port it listens on once started (the one picked, for port 0).
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._server: BoundedServer | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    def _serve(self, build: Callable[[], BoundedServer]) -> None:
        """Bind (``build`` raises ``OSError`` when it cannot) and serve on a new thread."""
        server = build()
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2},
            name=self._name, daemon=True,
        )  # fmt: skip
        self._thread.start()

    def stop(self) -> None:
        """Stop listening (blocks up to one poll interval: call it off the loop)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
