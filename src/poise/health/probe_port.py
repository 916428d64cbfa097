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

import json
import logging
from typing import Any, Final

from poise._listener import BoundedServer, DeadlineHandler, Listener
from poise.health.endpoints import CONTENT_TYPE, HealthPaths, body
from poise.health.state import Health

__all__ = ["MAX_CONNECTIONS", "ProbeServer"]

logger = logging.getLogger("poise")

MAX_CONNECTIONS: Final = 32
SOCKET_TIMEOUT: Final = 1.0
#: A connection is closed this long after it was accepted, whatever it is doing.
CONNECTION_DEADLINE: Final = 1.0


class _Server(BoundedServer):
    max_connections = MAX_CONNECTIONS
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], health: Health, routes: dict[str, str]) -> None:
        self.health = health
        self.routes = routes
        super().__init__(address, _Handler)


class _Handler(DeadlineHandler):
    server: _Server
    timeout = SOCKET_TIMEOUT
    connection_deadline = CONNECTION_DEADLINE
    server_version = "poise-probe"

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

    def _not_allowed(self) -> None:
        # The docs' answer (and the app port's) for another method: 405, not
        # http.server's 501.
        self._send(405, {"status": "fail", "notes": ["use GET or HEAD"]}, False,
                   allow="GET, HEAD")  # fmt: skip

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = _not_allowed

    def _send(self, code: int, doc: dict[str, Any], head: bool, allow: str | None = None) -> None:
        payload = json.dumps(doc, separators=(",", ":")).encode()
        self.send_response(code)
        if allow is not None:
            self.send_header("Allow", allow)
        self.send_header("Content-Type", CONTENT_TYPE.decode())
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head:
            self.wfile.write(payload)


class ProbeServer(Listener):
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
        super().__init__("poise-probe-port")

    def start(self) -> bool:
        """Listen and serve; ``False`` (logged) when the port cannot be bound.

        Fail-open: a busy port (a second worker process on the same probe port) costs
        the probe port, not the app.
        """
        try:
            self._serve(lambda: _Server(self._address, self._health, self._routes))
        except OSError as exc:
            logger.warning("poise: probe port %s:%s not available (%s); probes are served "
                           "on the app's own port only", *self._address, exc)  # fmt: skip
            return False
        return True
