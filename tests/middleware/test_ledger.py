"""The ledger part of PoiseMiddleware on hand-written scopes: every way a request can end."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from poise import Ledger, Poise, current_ledger
from poise._internal import InternalErrors
from poise.middleware.core import PoiseMiddleware
from poise.routing import RouteTemplates
from poise.types import Message, Receive, Scope, Send


def http_scope(path: str = "/x", method: str = "GET") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }


class Recorder:
    """A sink that keeps every ledger it is given."""

    def __init__(self) -> None:
        self.ledgers: list[Ledger] = []

    def __call__(self, ledger: Ledger) -> None:
        self.ledgers.append(ledger)


def wrap(app: Any, *sinks: Any) -> tuple[PoiseMiddleware, InternalErrors]:
    errors = InternalErrors()
    middleware = PoiseMiddleware(
        app, templates=RouteTemplates(app), sinks=list(sinks), errors=errors
    )
    return middleware, errors


async def request(
    app: Any,
    messages: list[Message] | None = None,
    *,
    send_error: type[BaseException] | None = None,
) -> list[Message]:
    """Run one request through ``app``; returns what it sent."""
    incoming = list(messages or [{"type": "http.request", "body": b"", "more_body": False}])
    sent: list[Message] = []

    async def receive() -> Message:
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        if send_error is not None and message["type"] == "http.response.body":
            raise send_error("client gone")
        sent.append(message)

    await app(http_scope(), receive, send)
    return sent


async def respond(send: Send, status: int = 200, *, more: bool = False) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"data", "more_body": more})


@pytest.mark.anyio
async def test_ok_request() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await respond(send, 201)

    sink = Recorder()
    middleware, _ = wrap(app, sink)
    await request(middleware)
    [ledger] = sink.ledgers
    assert (ledger.method, ledger.route, ledger.status, ledger.outcome) == (
        "GET",
        "<unmatched>",
        201,
        "ok",
    )
    assert ledger.wall > 0


@pytest.mark.anyio
async def test_wall_time_ends_at_the_last_body_byte() -> None:
    """Work the app does after the response is complete is not the client's latency."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await respond(send)
        await asyncio.sleep(0.3)  # a background task, after the response

    sink = Recorder()
    middleware, _ = wrap(app, sink)
    await request(middleware)
    assert sink.ledgers[0].wall < 0.2


@pytest.mark.anyio
async def test_server_error_response_is_an_error() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await respond(send, 503)

    sink = Recorder()
    middleware, _ = wrap(app, sink)
    await request(middleware)
    assert (sink.ledgers[0].status, sink.ledgers[0].outcome) == (503, "error")


@pytest.mark.anyio
async def test_exception_before_response_is_500_error_and_propagates() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise ValueError("bad")

    sink = Recorder()
    middleware, _ = wrap(app, sink)
    with pytest.raises(ValueError, match="bad"):
        await request(middleware)
    assert (sink.ledgers[0].status, sink.ledgers[0].outcome) == (500, "error")


@pytest.mark.anyio
async def test_exception_mid_stream_keeps_the_status_sent() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await respond(send, 200, more=True)
        raise ValueError("broke mid-stream")

    sink = Recorder()
    middleware, _ = wrap(app, sink)
    with pytest.raises(ValueError, match="mid-stream"):
        await request(middleware)
    assert (sink.ledgers[0].status, sink.ledgers[0].outcome) == (200, "error")


@pytest.mark.anyio
async def test_returning_without_a_response_is_a_500() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    sink = Recorder()
    middleware, _ = wrap(app, sink)
    await request(middleware)
    assert (sink.ledgers[0].status, sink.ledgers[0].outcome) == (500, "error")


@pytest.mark.anyio
async def test_returning_with_an_unfinished_body_is_an_error() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await respond(send, 200, more=True)

    sink = Recorder()
    middleware, _ = wrap(app, sink)
    await request(middleware)
    assert (sink.ledgers[0].status, sink.ledgers[0].outcome) == (200, "error")


@pytest.mark.anyio
async def test_disconnect_before_the_response_started() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    sink = Recorder()
    middleware, _ = wrap(app, sink)
    sent = await request(
        middleware,
        [
            {"type": "http.request", "body": b"", "more_body": True},
            {"type": "http.disconnect"},
        ],
    )
    assert sent == []
    assert (sink.ledgers[0].status, sink.ledgers[0].outcome) == (499, "client_disconnected")


@pytest.mark.anyio
async def test_send_raising_oserror_is_a_disconnect_and_propagates() -> None:
    """ASGI 2.4 servers raise OSError from send once the client has gone."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await respond(send)

    sink = Recorder()
    middleware, _ = wrap(app, sink)
    with pytest.raises(OSError, match="client gone"):
        await request(middleware, send_error=ConnectionResetError)
    assert (sink.ledgers[0].status, sink.ledgers[0].outcome) == (200, "client_disconnected")


@pytest.mark.anyio
async def test_disconnect_after_the_response_is_not_a_disconnect() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await respond(send)
        assert (await receive())["type"] == "http.disconnect"

    sink = Recorder()
    middleware, _ = wrap(app, sink)
    await request(
        middleware,
        [{"type": "http.request", "body": b"", "more_body": False}, {"type": "http.disconnect"}],
    )
    assert sink.ledgers[0].outcome == "ok"


@pytest.mark.anyio
async def test_outcome_set_by_a_component_is_kept() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        ledger = current_ledger()
        assert ledger is not None
        ledger.outcome = "shed"
        await respond(send, 503)

    sink = Recorder()
    middleware, _ = wrap(app, sink)
    await request(middleware)
    assert sink.ledgers[0].outcome == "shed"


@pytest.mark.anyio
async def test_current_ledger_is_visible_to_the_request_and_its_tasks() -> None:
    seen: list[Ledger | None] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(current_ledger())

        async def child() -> None:
            seen.append(current_ledger())

        await asyncio.create_task(child())
        await respond(send)

    sink = Recorder()
    middleware, _ = wrap(app, sink)
    assert current_ledger() is None
    await request(middleware)
    assert current_ledger() is None
    assert seen == [sink.ledgers[0], sink.ledgers[0]]


@pytest.mark.anyio
async def test_a_failing_sink_does_not_fail_the_request(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await respond(send)

    def broken(ledger: Ledger) -> None:
        raise KeyError("sink bug")

    after = Recorder()
    middleware, errors = wrap(app, broken, after)
    with caplog.at_level(logging.ERROR, logger="poise"):
        for _ in range(3):
            sent = await request(middleware)
            assert sent[0]["status"] == 200
    assert len(after.ledgers) == 3
    [(component, count)] = errors.snapshot().items()
    assert "broken" in component
    assert count == 3
    # Logged once with its traceback, then only counted.
    assert len(caplog.records) == 1
    assert caplog.records[0].exc_info is not None


@pytest.mark.anyio
async def test_other_scopes_pass_through_untouched() -> None:
    seen: list[tuple[Any, Any, Any]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope, receive, send))

    sink = Recorder()
    middleware, _ = wrap(app, sink)
    scope = {"type": "websocket", "path": "/ws"}

    async def receive() -> Message:
        return {}

    async def send(message: Message) -> None:
        return None

    await middleware(scope, receive, send)
    assert seen == [(scope, receive, send)]
    assert sink.ledgers == []


@pytest.mark.anyio
async def test_poise_internal_error_is_counted_in_stats_and_the_request_goes_on() -> None:
    class BrokenRoutes:
        """An app whose route tree cannot be read."""

        @property
        def routes(self) -> list[Any]:
            raise RuntimeError("routes unavailable")

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            scope["route"] = object()  # a routing result poise cannot look up
            await respond(send)

    poise = Poise(BrokenRoutes())
    sent = await request(poise)
    assert sent[0]["status"] == 200
    assert poise.stats()["internal_errors"] == {"route templates": 1, "admission route options": 1}
    assert poise.stats()["routes"]["GET <error>"]["count"] == 1
