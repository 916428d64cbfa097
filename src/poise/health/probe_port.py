"""The probe port: ``/livez``, ``/readyz`` and ``/startupz`` served from a thread.

A probe sent to the app's own port waits behind everything the event loop is doing;
under heavy load it times out and Kubernetes restarts a pod that was busy but healthy.
This listener runs on its own thread with the standard library's HTTP server and
answers from the state the loop and its ticker keep (see :mod:`poise.health.state`), so
it answers within milliseconds while the loop is congested, and even while it is
blocked (the thread needs only the GIL, which a blocked loop hands over every few
milliseconds).

It serves the probe endpoints only (``/healthz`` details stay on the main port, behind
the admin rule). ``http.server`` is enough here: probes are rare, tiny, one per
connection; each connection gets a short-lived daemon thread and is closed one second
after it was accepted, whatever it is doing, and at most :data:`MAX_CONNECTIONS` are
served at once (more are closed at once), so a slow client cannot pile threads up or
hold a slot. A client that opens connections faster than that can still crowd the
kubelet out: keep the port inside the cluster (a NetworkPolicy, docs/health.md).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

from poise.health.endpoints import CONTENT_TYPE, HealthPaths, body
from poise.health.state import Health

__all__ = ["MAX_CONNECTIONS", "ProbeServer"]

logger = logging.getLogger("poise")

MAX_CONNECTIONS: Final = 32
SOCKET_TIMEOUT: Final = 1.0
#: A connection is closed this long after it was accepted, whatever it is doing.
CONNECTION_DEADLINE: Final = 1.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], health: Health, routes: dict[str, str]) -> None:
        self.health = health
        self.routes = routes
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

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


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = SOCKET_TIMEOUT
    server_version = "poise-probe"

    def version_string(self) -> str:
        return self.server_version  # not "poise-probe Python/3.x": nothing to fingerprint

    def setup(self) -> None:
        super().setup()
        # The socket timeout bounds each read; this bounds the whole connection, so a
        # client trickling a byte a second cannot keep a slot.
        self._deadline = threading.Timer(CONNECTION_DEADLINE, self._expire)
        self._deadline.daemon = True
        self._deadline.start()

    def finish(self) -> None:
        self._deadline.cancel()
        super().finish()

    def _expire(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def do_GET(self) -> None:
        self._answer(head=False)

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def _answer(self, *, head: bool) -> None:
        kind = self.server.routes.get(self.path.split("?", 1)[0])
        if kind is None:
            self._send(404, {"status": "fail", "notes": ["not a probe path"]}, head)
            return
        health = self.server.health
        if kind != "live":
            health.refresh_stale_threadsafe()  # on-demand checks: start, do not wait
        code, doc = body(health, kind, from_thread=True)
        self._send(code, doc, head)

    def _send(self, code: int, doc: dict[str, Any], head: bool) -> None:
        payload = json.dumps(doc, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", CONTENT_TYPE.decode())
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head:
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # probes every few seconds would flood the log


class ProbeServer:
    """The probe listener's life cycle.

    Args:
        health: the state it serves.
        paths: the probe paths (the same as the main port's).
        host, port: where to listen; port 0 picks a free one (see :attr:`port`).
    """

    def __init__(self, health: Health, paths: HealthPaths, host: str, port: int) -> None:
        self._health = health
        kinds = {"live": paths.live, "ready": paths.ready, "startup": paths.startup}
        self._routes = {path: kind for kind, path in kinds.items() if path is not None}
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    def start(self) -> bool:
        """Listen and serve; ``False`` (logged) when the port cannot be bound.

        Fail-open: a busy port (a second worker process on the same probe port) costs
        the probe port, not the app.
        """
        try:
            server = _Server(self._address, self._health, self._routes)
        except OSError as exc:
            logger.warning("poise: probe port %s:%s not available (%s); probes are served "
                           "on the app's own port only", *self._address, exc)  # fmt: skip
            return False
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2},
            name="poise-probe-port", daemon=True,
        )  # fmt: skip
        self._thread.start()
        return True

    def stop(self) -> None:
        """Stop listening (blocks up to one poll interval: call it off the loop)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
