"""poise's one outermost ASGI layer: its own endpoints, the lifespan, the request ledger.

It is one class rather than a stack of small ones because every layer costs the app a
coroutine frame and an ``await`` per request (about a microsecond each here, measured in
``bench/``); the parts it dispatches to live in their own modules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from contextvars import Token
from time import monotonic, perf_counter
from typing import Final, Protocol

import anyio
import anyio.lowlevel

from poise._internal import InternalErrors
from poise.admission.controller import Admission
from poise.admission.deadline import _deadline
from poise.admission.policy import Policies
from poise.ledger import Ledger, LedgerSink, _current
from poise.loop.monitor import LoopMonitor
from poise.loop.steps import timed_steps
from poise.middleware.lifespan import Lifespan
from poise.responses import send_problem
from poise.routing import RouteTemplates, _route_path
from poise.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CLIENT_CLOSED_REQUEST", "KNOWN_METHODS", "Draining", "PoiseMiddleware"]


class Draining(Protocol):
    """Anything with a ``draining`` flag (poise's Health)."""

    draining: bool


#: Methods kept as they are in labels; any other (clients choose them) becomes "OTHER",
#: so a scanner sending made-up methods cannot grow the per-route tables.
KNOWN_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)

#: Status recorded when the client went away before any response started (nginx's 499).
CLIENT_CLOSED_REQUEST: Final = 499


class PoiseMiddleware:
    """Answer poise's endpoints, wrap the lifespan, and give every request a ledger.

    For each HTTP request: a path in ``endpoints`` is answered by poise (not recorded,
    not seen by the app); any other gets a ledger, current for the whole request, timed
    to its last body byte, resolved to its route template, and handed to ``sinks``.
    Lifespan scopes go through ``lifespan``; any other scope reaches the app untouched.

    Args:
        app: the ASGI app to wrap.
        templates: resolves the route template once the app has routed the request.
        sinks: called with each finished ledger, in order.
        errors: where a failing sink is reported.
        endpoints: exact path (``/_poise/api/stats``) to the ASGI handler answering it.
        lifespan: runs poise's start-up and shutdown around the app's; ``None`` passes
            lifespan scopes straight through.
        monitor: times each step of the request's task while it runs, and knows the
            requests in flight (for stalls); ``None`` when loop monitoring is off.
        server_timing: add a ``Server-Timing`` header to each response.
        admission: the concurrency limit and its queue; ``policies``: each request's
            priority and deadline. Both ``None``: neither (the bare ledger).
        drain: its ``draining`` flag set means shutdown has begun: responses then carry
            ``Connection: close``.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        templates: RouteTemplates,
        sinks: Sequence[LedgerSink],
        errors: InternalErrors,
        endpoints: Mapping[str, ASGIApp] | None = None,
        lifespan: Lifespan | None = None,
        monitor: LoopMonitor | None = None,
        server_timing: bool = False,
        admission: Admission | None = None,
        policies: Policies | None = None,
        drain: Draining | None = None,
    ) -> None:
        self.app = app
        self._templates = templates
        self._sinks = tuple(sinks)
        self._errors = errors
        self._endpoints = dict(endpoints or {})
        self._lifespan = lifespan
        self._monitor = monitor
        self._server_timing = server_timing
        self._admission = admission
        self._policies = policies
        self._drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan" and self._lifespan is not None:
                await self._lifespan.run(self.app, scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return

        endpoints = self._endpoints
        if endpoints:
            handler = endpoints.get(scope["path"])
            if handler is None and scope.get("root_path"):
                handler = self._endpoint_under_root_path(scope)
            if handler is not None:
                await handler(scope, receive, send)
                return

        # The hot path: every line below runs for every request of the app. It is kept
        # in one function (no helper calls beyond the sinks) because each Python call
        # costs about as much as the work it would wrap; see bench/ for the numbers.
        method = scope["method"]
        ledger = Ledger(method if method in KNOWN_METHODS else "OTHER")
        root_path = scope.get("root_path", "")
        token = _current.set(ledger)
        disconnected = False
        # The deadline's cancel scope while the app runs in it (see send_timed).
        deadline_scope: anyio.CancelScope | None = None

        async def receive_watching() -> Message:
            nonlocal disconnected
            message = await receive()
            if message["type"] == "http.disconnect" and not ledger.wall:
                disconnected = True
            return message

        async def send_timed(message: Message) -> None:
            nonlocal disconnected
            kind = message["type"]
            if kind == "http.response.start":
                if deadline_scope is not None and anyio.current_time() >= deadline_scope.deadline:
                    # The deadline passed in code nothing could interrupt (a sync route in
                    # the thread pool): no checkpoint came between it and this response,
                    # so cancel here, before a late answer goes out as a success.
                    deadline_scope.cancel()
                    await anyio.lowlevel.checkpoint()
                ledger.status = message["status"]
                if self._server_timing:
                    message = with_server_timing(message, ledger, self._monitor)
                drain = self._drain
                if drain is not None and drain.draining:
                    # Shutting down: move keep-alive clients off this process while it
                    # still answers, instead of resetting them when the listener closes.
                    message = with_connection_close(message)
            try:
                await send(message)
            except OSError:
                # ASGI 2.4 servers raise here when the client has gone.
                disconnected = True
                raise
            if kind == "http.response.body" and not message.get("more_body", False):
                ledger.wall = perf_counter() - ledger.start

        admission = self._admission
        deadline: float | None = None
        waited = 0.0
        if admission is not None:
            policies = self._policies
            assert policies is not None
            if policies.trivial:
                priority, deadline = 1, policies.default_deadline  # DEFAULT
            else:
                priority, deadline = policies.of(scope, _route_path_of(scope, root_path))
            if policies.header is not None:
                deadline = policies.header_deadline(scope, deadline)
            if not admission.try_admit(priority):
                queued_at = perf_counter()
                admitted = await admission.wait(priority, deadline)
                waited = perf_counter() - queued_at
                if not admitted:
                    await self._refuse(scope, ledger, token, send_timed, admission, deadline,
                                       waited, root_path)  # fmt: skip
                    return
            if deadline is not None:
                deadline -= waited
                if deadline <= 0:
                    admission.release(None)
                    await self._refuse(scope, ledger, token, send_timed, admission, 0.0,
                                       waited, root_path)  # fmt: skip
                    return

        monitor = self._monitor
        call: Awaitable[None]
        if monitor is not None and monitor.running:
            inflight = monitor.inflight
            inflight[ledger] = (scope, root_path)
            call = timed_steps(self.app(scope, receive_watching, send_timed), ledger, monitor)
        else:
            inflight = None
            call = self.app(scope, receive_watching, send_timed)
        deadline_token = None
        try:
            if deadline is None:
                await call
            else:
                deadline_token = _deadline.set(monotonic() + deadline)
                with anyio.CancelScope(deadline=anyio.current_time() + deadline) as cancel_scope:
                    deadline_scope = cancel_scope
                    try:
                        await call
                    finally:
                        deadline_scope = None
                if cancel_scope.cancelled_caught:
                    ledger.outcome = "deadline"
                    if ledger.status == 0:
                        await send_problem(send_timed, 504, detail=(
                            f"the request did not finish within its deadline of {deadline:.3g} s"
                        ))  # fmt: skip
                    # Else the response has started and cannot become a 504: returning
                    # without finishing it makes the server close the connection.
        except BaseException:
            if ledger.outcome is None:
                ledger.outcome = "client_disconnected" if disconnected else "error"
            raise
        finally:
            if deadline_token is not None:
                _deadline.reset(deadline_token)
            if admission is not None:
                if ledger.outcome == "deadline":
                    admission.expired()
                    admission.release(None)
                elif disconnected:
                    admission.release(None)
                else:
                    admission.release(perf_counter() - ledger.start - waited)
            _current.reset(token)
            if inflight is not None:
                del inflight[ledger]
            complete = ledger.wall > 0.0
            if not complete:
                ledger.wall = perf_counter() - ledger.start
            if ledger.status == 0:
                # Nothing was sent: the server answers 500 itself, unless the client left.
                ledger.status = CLIENT_CLOSED_REQUEST if disconnected else 500
            if ledger.outcome is None:
                if complete:
                    ledger.outcome = "ok" if ledger.status < 500 else "error"
                else:
                    ledger.outcome = "client_disconnected" if disconnected else "error"
            self._finish(scope, ledger, root_path)

    async def _refuse(self, scope: Scope, ledger: Ledger, token: Token[Ledger | None],
                      send: Send, admission: Admission, deadline: float | None,
                      waited: float, root_path: str) -> None:  # fmt: skip
        """Answer a request that does not get into the app: 503 shed, or 504 if its
        deadline passed before it could start. Recorded like any other request."""
        try:
            if deadline is not None and deadline <= waited:
                ledger.outcome = "deadline"
                admission.deadline_total += 1
                await send_problem(send, 504, detail=(
                    "the request's deadline passed before it could start"
                ))  # fmt: skip
            else:
                ledger.outcome = "shed"
                admission.shed_total += 1
                retry = admission.retry_after()
                await send_problem(send, 503, headers=[(b"retry-after", b"%d" % retry)],
                                   detail="overloaded: the request was not started; retry "
                                   f"after {retry} s")  # fmt: skip
        finally:
            _current.reset(token)
            if not ledger.wall:
                ledger.wall = perf_counter() - ledger.start
            if ledger.status == 0:
                ledger.status = CLIENT_CLOSED_REQUEST
            self._finish(scope, ledger, root_path)

    def _finish(self, scope: Scope, ledger: Ledger, root_path: str) -> None:
        try:
            ledger.route = self._templates.resolve(scope, ledger.status, root_path)
        except Exception as exc:
            self._errors.report("route templates", exc)
            ledger.route = "<error>"
        for sink in self._sinks:
            try:
                sink(ledger)
            except Exception as exc:
                self._errors.report(getattr(sink, "__qualname__", repr(sink)), exc)

    def _endpoint_under_root_path(self, scope: Scope) -> ASGIApp | None:
        # Servers that include root_path in path (uvicorn --root-path).
        path: str = scope["path"]
        root_path: str = scope["root_path"]
        if path.startswith(root_path):
            return self._endpoints.get(path[len(root_path) :])
        return None


def _route_path_of(scope: Scope, root_path: str) -> str:
    return _route_path(scope, root_path) if root_path else scope["path"]


def with_connection_close(message: Message) -> Message:
    """``message`` (a response start) with ``Connection: close``: the server closes the
    connection after this response (uvicorn honours the header on both HTTP stacks)."""
    headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"connection"]
    return {**message, "headers": [*headers, (b"connection", b"close")]}


def with_server_timing(
    message: Message, ledger: Ledger, monitor: LoopMonitor | None = None
) -> Message:
    """``message`` (a response start) with a ``Server-Timing`` header of the ledger so far.

    A new message and header list: the app's own may be reused across responses.
    """
    now = perf_counter()
    app_ms = (now - ledger.start) * 1e3
    on_loop = ledger.on_loop
    if monitor is not None and monitor.current is ledger and monitor.step_started:
        on_loop += now - monitor.step_started  # the step sending this is still running
    threadpool_ms = (ledger.threadpool_queue + ledger.threadpool_run) * 1e3
    value = (
        f"app;dur={app_ms:.3f}, on_loop;dur={on_loop * 1e3:.3f}, "
        f"stalled;dur={ledger.stalled * 1e3:.3f}, threadpool;dur={threadpool_ms:.3f}"
    )
    headers = [*message.get("headers", ()), (b"server-timing", value.encode("latin-1"))]
    return {**message, "headers": headers}
