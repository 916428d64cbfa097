"""poise's one outermost ASGI layer: its own endpoints, the lifespan, the request ledger.

It is one class rather than a stack of small ones because every layer costs the app a
coroutine frame and an ``await`` per request (about a microsecond each here, measured in
``bench/``); the parts it dispatches to live in their own modules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine, Mapping, Sequence
from time import monotonic, perf_counter
from typing import Final, Protocol

import anyio
import anyio.lowlevel

from poise._internal import InternalErrors
from poise.admission.controller import Admission
from poise.admission.deadline import _deadline
from poise.admission.policy import Policies
from poise.ledger import Ledger, LedgerSink, ShedReason, _current
from poise.loop.monitor import LoopMonitor
from poise.loop.steps import timed_steps
from poise.middleware.cors import CorsAnswers
from poise.middleware.lifespan import Lifespan
from poise.middleware.outcome import CLIENT_CLOSED_REQUEST, settle
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

# A deadline this close to spent when a request is refused counts as spent: the wait's
# timer fires on the loop's clock, a hair before perf_counter agrees.
DEADLINE_SLACK: Final = 0.001

# A request that waited this long in admission's queue is checked for a client that left
# meanwhile (``poll``) before it enters the app. Clients give up after seconds (load
# balancer and client timeouts, a closed tab), rarely within a few hundred ms, and the
# check costs two ``receive()`` calls: at 50 ms a closed-loop crowd held a little paid
# it on most of its requests (about 1 % of a 1 ms request) and found no one gone.
GONE_CHECK_WAIT: Final = 0.5

# What a 503 says, by reason.
_SHED_DETAIL: Final[dict[str, str]] = {
    "limit": "overloaded: the app is at its concurrency limit and its queue is full",
    "queue_timeout": "overloaded: no slot freed up within the time a request may wait",
    "priority": "overloaded: requests of this priority are shed first",
    "deadline": "overloaded: the request would not have finished within its deadline",
    "draining": "shutting down: this process takes no more waiting requests",
}


def poll(receive: Receive) -> Message | None:
    """``receive()``'s message if the server has one ready now, else ``None``, without
    waiting: the call is started and, if it would have to wait, closed where it stands.

    Used on a request that waited long in admission's queue, just before it enters the
    app: a client that left meanwhile (a load balancer's timeout, a closed tab, a
    benchmark's end) is not served to nobody, and the clients behind it get its turn.
    Servers answer ``http.disconnect`` at once once the connection is gone (uvicorn,
    hypercorn, daphne), and a receive that has to wait leaves no trace when closed
    (its waiter is removed in a ``finally``).
    """
    call = receive()
    if not isinstance(call, Coroutine):
        return None
    try:
        call.send(None)
    except StopIteration as done:
        message: Message = done.value
        return message
    except Exception:  # a broken receive: the app will meet it itself
        return None
    call.close()
    return None


def _replaying(ready: list[Message], receive: Receive) -> Receive:
    """``receive``, after handing out the messages ``poll`` took from it."""

    async def replay() -> Message:
        if ready:
            return ready.pop(0)
        return await receive()

    return replay


def _bodyless(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-length":
            if value.strip() not in (b"0", b""):
                return False
        elif name == b"transfer-encoding":
            return False
    return True


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
        debug_headers: add a ``Poise-Shed-Reason`` header to each refusal.
        cors: the app's CORS policy, applied to poise's own 503 and 504 answers.
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
        debug_headers: bool = False,
        cors: CorsAnswers | None = None,
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
        self._debug_headers = debug_headers
        self._cors = cors

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
        monitor = self._monitor
        if monitor is not None and ledger.start < monitor.late_until:
            monitor.arrived(ledger)  # it waited in the server's buffers behind a block
        admission = self._admission
        disconnected = False
        raised = False
        # Whether this request holds an admission slot (given back at response start).
        holding = False
        # The deadline's cancel scope while the app runs in it (see send_timed).
        deadline_scope: anyio.CancelScope | None = None

        async def receive_watching() -> Message:
            nonlocal disconnected
            if holding:
                # Waiting for the client's body bytes is not load: a slow upload stops
                # holding its slot if this takes long (admission's sweep).
                reading = admission.reading  # type: ignore[union-attr]
                reading[ledger] = perf_counter()
                try:
                    message = await receive()
                finally:
                    reading.pop(ledger, None)
            else:
                message = await receive()
            if message["type"] == "http.disconnect" and not ledger.wall:
                disconnected = True
            return message

        async def send_timed(message: Message) -> None:
            nonlocal disconnected, holding
            kind = message["type"]
            if kind == "http.response.start":
                if deadline_scope is not None and anyio.current_time() >= deadline_scope.deadline:
                    # The deadline passed in code nothing could interrupt (a sync route in
                    # the thread pool): no checkpoint came between it and this response,
                    # so cancel here, before a late answer goes out as a success.
                    deadline_scope.cancel()
                    await anyio.lowlevel.checkpoint()
                ledger.status = message["status"]
                if holding:
                    # The response has started: what is left (a body, a stream) is the
                    # client's pace, not load. The time so far is the latency sample.
                    holding = False
                    admission.release(ledger, sample=True)  # type: ignore[union-attr]
                if self._server_timing:
                    message = with_server_timing(message, ledger, monitor)
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

        deadline: float | None = None
        inflight = None
        deadline_token = None
        try:
            if admission is not None:
                policies = self._policies
                assert policies is not None
                if policies.trivial:
                    priority, deadline, long_lived = 1, policies.default_deadline, False
                else:
                    priority, deadline, long_lived = policies.of(
                        scope, _route_path_of(scope, root_path)
                    )
                if policies.header is not None:
                    deadline = policies.header_deadline(scope, deadline)
                if deadline is not None and ledger.queued_behind_block:
                    deadline -= ledger.queued_behind_block  # spent in the buffers
                if long_lived:
                    admission.bypass(ledger)
                elif admission.try_admit(ledger, priority):
                    holding = True
                else:
                    # Not shed for draining: through drain_delay the load balancer still
                    # sends and the process serves on; waiting is part of serving.
                    reason = await admission.wait(ledger, priority, deadline)
                    if reason is not None:
                        # Its deadline ran out while it waited (or was spent on arrival):
                        # a 504, as for any request past its deadline; else a 503.
                        spent = deadline is not None and (
                            deadline - (perf_counter() - ledger.start) <= DEADLINE_SLACK
                        )
                        await self._refuse(
                            scope, ledger, send_timed, admission, reason, spent=spent
                        )
                        return
                    holding = True
                    if ledger.admission_wait >= GONE_CHECK_WAIT and _bodyless(scope):
                        # Waited long: is its client still there?
                        first = poll(receive)
                        if first is not None:
                            ready = [first]
                            if first["type"] == "http.request":
                                second = poll(receive)
                                if second is not None:
                                    ready.append(second)
                            if ready[-1]["type"] == "http.disconnect":
                                # Gone while it waited: nobody to answer, nothing to run.
                                disconnected = True
                                holding = False
                                admission.release(ledger, sample=False)
                                admission.abandoned += 1
                                return
                            receive = _replaying(ready, receive)
                if deadline is not None:
                    deadline -= ledger.admission_wait
                    if deadline <= 0:
                        if holding:
                            holding = False
                            admission.release(ledger, sample=False)
                        await self._refuse(
                            scope, ledger, send_timed, admission, "deadline", spent=True
                        )
                        return

            call: Awaitable[None]
            if monitor is not None and monitor.running:
                inflight = monitor.inflight
                inflight[ledger] = (scope, root_path)
                call = timed_steps(
                    self.app(scope, receive_watching, send_timed), ledger, monitor.state
                )
            else:
                call = self.app(scope, receive_watching, send_timed)
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
                        await self._problem(scope, send_timed, 504, detail=(
                            f"the request did not finish within its deadline of {deadline:.3g} s"
                        ))  # fmt: skip
                    # Else the response has started and cannot become a 504: returning
                    # without finishing it makes the server close the connection.
        except BaseException:
            raised = True
            raise
        finally:
            if deadline_token is not None:
                _deadline.reset(deadline_token)
            _current.reset(token)
            if inflight is not None:
                del inflight[ledger]
            complete = ledger.wall > 0.0
            if not complete:
                ledger.wall = perf_counter() - ledger.start
            ledger.status, ledger.outcome = settle(
                status=ledger.status,
                preset=ledger.outcome,
                complete=complete,
                disconnected=disconnected,
                raised=raised,
            )
            if admission is not None and ledger.shed_reason is None:
                if holding:
                    # Ended without starting a response: a sample only if it ended well.
                    admission.release(ledger, sample=ledger.outcome == "ok")
                if ledger.outcome == "deadline":
                    admission.expired()
                admission.done(ledger)
            self._finish(scope, ledger, root_path)

    async def _problem(
        self,
        scope: Scope,
        send: Send,
        status: int,
        *,
        detail: str,
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        """One of poise's own problem answers, with the app's CORS headers if it has any."""
        cors = self._cors
        if cors is None:
            await send_problem(send, status, headers=headers, detail=detail)
            return

        async def respond(send: Send) -> None:
            await send_problem(send, status, headers=headers, detail=detail)

        await cors.send(scope, send, respond)

    async def _refuse(
        self,
        scope: Scope,
        ledger: Ledger,
        send: Send,
        admission: Admission,
        reason: ShedReason,
        *,
        spent: bool = False,
    ) -> None:
        """Answer a request that does not get into the app: 503 with ``reason``, or 504
        when its deadline has passed (``spent``). It was never started either way."""
        debug = self._debug_headers
        if spent:
            ledger.shed_reason = "deadline"
            ledger.outcome = "deadline"
            admission.deadline_total += 1
            await self._problem(
                scope, send, 504,
                headers=[(b"poise-shed-reason", b"deadline")] if debug else [],
                detail="the request's deadline passed before it could start",
            )  # fmt: skip
            return
        ledger.shed_reason = reason
        ledger.outcome = "shed"
        admission.refused(ledger, reason)
        retry = admission.retry_after()
        headers = [(b"retry-after", b"%d" % retry)]
        if debug:
            headers.append((b"poise-shed-reason", reason.encode()))
        await self._problem(
            scope,
            send,
            503,
            headers=headers,
            detail=f"{_SHED_DETAIL[reason]}; the request was not started: retry after {retry} s",
        )

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
    if monitor is not None:
        state = monitor.state
        if state.current is ledger and state.step_started:
            on_loop += now - state.step_started  # the step sending this is still running
    threadpool_ms = (ledger.threadpool_queue + ledger.threadpool_run) * 1e3
    value = (
        f"app;dur={app_ms:.3f}, on_loop;dur={on_loop * 1e3:.3f}, "
        f"stalled;dur={ledger.stalled * 1e3:.3f}, threadpool;dur={threadpool_ms:.3f}, "
        f"admission;dur={ledger.admission_wait * 1e3:.3f}"
    )
    headers = [*message.get("headers", ()), (b"server-timing", value.encode("latin-1"))]
    return {**message, "headers": headers}
