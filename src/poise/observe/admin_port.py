"""The admin port: poise's admin surfaces on a listener of their own, bound to loopback.

On the app's port the peer address proves nothing: a proxy on the same host (nginx's
default ``proxy_pass``, HAProxy or stunnel in TCP mode, socat, a mesh sidecar) connects
from 127.0.0.1 and may add no header at all, so every outside client would look local.
A listener that no proxy forwards to does prove it: a client that reaches it from a
loopback address is on this host. So the admin data (stats, recent requests, the
detailed ``/healthz``) is served without a token only here (see
:meth:`poise.observe.api.AdminAPI.allowed`).

The listener is the standard library's threaded HTTP server, bounded like the probe
port's (at most :data:`MAX_CONNECTIONS` at once, each closed :data:`CONNECTION_DEADLINE`
after it was accepted). The answers come from the event loop, where poise's state
lives: each request runs the same ASGI handler as on the app's port, handed to the loop
with :func:`asyncio.run_coroutine_threadsafe`; a loop that does not answer within
:data:`LOOP_TIMEOUT` (blocked, or saturated) gets a ``503`` saying so.
"""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Final

from poise._listener import BoundedServer, DeadlineHandler, Listener
from poise.types import ASGIApp, Message, Scope

__all__ = ["ADMIN_PORT_SCOPE_KEY", "LOOP_TIMEOUT", "MAX_CONNECTIONS", "AdminPortServer"]

logger = logging.getLogger("poise")

#: Set to ``True`` in the scope of every request that came in through the admin port.
ADMIN_PORT_SCOPE_KEY: Final = "poise.admin_port"
MAX_CONNECTIONS: Final = 16
SOCKET_TIMEOUT: Final = 2.0
CONNECTION_DEADLINE: Final = 10.0
#: How long a request waits for the event loop to build its answer.
LOOP_TIMEOUT: Final = 5.0
#: Request headers beyond this many are refused (the standard library reads at most 100).
MAX_HEADERS: Final = 64
PROBLEM: Final = "application/problem+json"


class _Server(BoundedServer):
    max_connections = MAX_CONNECTIONS
    request_queue_size = 32

    def __init__(
        self,
        address: tuple[str, int],
        endpoints: dict[str, ASGIApp],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.endpoints = endpoints
        self.loop = loop
        super().__init__(address, _Handler)


class _Handler(DeadlineHandler):
    server: _Server
    timeout = SOCKET_TIMEOUT
    connection_deadline = CONNECTION_DEADLINE
    server_version = "poise-admin"
    protocol_version = "HTTP/1.0"  # one request per connection

    def _any(self) -> None:
        self._answer(self.command)

    # Every method reaches the admin handlers, which answer 405 to all but GET and HEAD
    # (as on the app's port), instead of http.server's 501.
    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = _any

    def _answer(self, method: str) -> None:
        path, _, query = self.path.partition("?")
        handler = self.server.endpoints.get(path)
        if handler is None:
            self._problem(404, "not an admin path", head=method == "HEAD")
            return
        if len(self.headers) > MAX_HEADERS:
            self._problem(431, "too many request headers", head=method == "HEAD")
            return
        host, port = self.client_address[:2]
        local = self.connection.getsockname()
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.0",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode("latin-1", "replace"),
            "query_string": query.encode("latin-1", "replace"),
            "root_path": "",
            "headers": [
                (name.lower().encode("latin-1"), value.encode("latin-1", "replace"))
                for name, value in self.headers.items()
            ],
            "client": (host, port),
            "server": (local[0], local[1]),
            ADMIN_PORT_SCOPE_KEY: True,
        }
        future = asyncio.run_coroutine_threadsafe(_run(handler, scope), self.server.loop)
        try:
            status, headers, body = future.result(timeout=LOOP_TIMEOUT)
        except FutureTimeout:
            future.cancel()
            self._problem(503, f"the event loop did not answer within {LOOP_TIMEOUT:g} s "
                               "(blocked or saturated)", head=method == "HEAD")  # fmt: skip
            return
        except Exception as exc:
            logger.warning("poise: the admin port could not answer %s: %r", path, exc)
            self._problem(500, "the admin answer failed (logged)", head=method == "HEAD")
            return
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in (b"content-length", b"connection"):
                self.send_header(name.decode("latin-1"), value.decode("latin-1"))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(body)

    def _problem(self, status: int, detail: str, *, head: bool) -> None:
        payload = json.dumps({"status": status, "detail": detail}).encode()
        self.send_response(status)
        self.send_header("Content-Type", PROBLEM)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        if not head:
            self.wfile.write(payload)


async def _run(handler: ASGIApp, scope: Scope) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Run one admin handler on the loop and collect its answer."""
    status = 500
    headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = int(message["status"])
            headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))

    await handler(scope, receive, send)
    return status, headers, b"".join(chunks)


class AdminPortServer(Listener):
    """The admin listener's life cycle.

    Args:
        endpoints: exact path -> ASGI handler (the admin API's and ``/healthz``).
        host, port: where to listen; port 0 picks a free one (see :attr:`port`).
    """

    def __init__(self, endpoints: dict[str, ASGIApp], host: str, port: int) -> None:
        self._endpoints = dict(endpoints)
        self._address = (host, port)
        super().__init__("poise-admin-port")

    def start(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Listen and serve; ``False`` (logged) when the port cannot be bound.

        Fail-open for the app, closed for the data: a busy port (a second worker
        process) costs this process its token-less admin access, never the app.
        """
        try:
            self._serve(lambda: _Server(self._address, self._endpoints, loop))
        except OSError as exc:
            logger.warning("poise: admin port %s:%s not available (%s); this process's "
                           "admin data is served only with the admin token",
                           *self._address, exc)  # fmt: skip
            return False
        return True
