"""Who reads admin data: the token on any port, loopback clients of the admin port, and
nobody else, whatever the peer address of the app's port says (a same-host proxy)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import anyio.to_thread
import httpx
import pytest
from fastapi import FastAPI

from poise import Poise, Settings
from poise.observe.admin_port import ADMIN_PORT_SCOPE_KEY
from poise.observe.api import FORBIDDEN_DETAIL, AdminAPI, is_loopback
from tests.conftest import ADMIN_TOKEN, Server, free_port
from tests.forward import forwarder
from tests.lifespan import running

TOKEN = "s3cr3t-token-0123456789"
ADMIN_PATHS = ("/_poise/api/stats", "/_poise/api/requests")
FORWARDING = (
    "Forwarded", "X-Forwarded-For", "X-Real-IP", "True-Client-IP", "CF-Connecting-IP",
    "X-Client-IP", "X-Cluster-Client-IP", "Fastly-Client-IP", "X-Original-Forwarded-For",
)  # fmt: skip


@pytest.fixture
def no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POISE_ADMIN_TOKEN")


def build(settings: Settings | None = None) -> tuple[FastAPI, Poise]:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    return app, Poise(app, settings)


def client(app: Any, host: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(host, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def scope(host: str | None, *, admin_port: bool, headers: dict[str, str] | None = None) -> Any:
    result: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": None if host is None else (host, 40000),
    }
    if admin_port:
        result[ADMIN_PORT_SCOPE_KEY] = True
    return result


# -- the rule --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.5.6.7", "::1", "::ffff:127.0.0.1", "203.0.113.9", "10.0.0.5", "testclient"],
)
@pytest.mark.anyio
async def test_the_app_port_never_trusts_the_peer_address(no_token: None, host: str) -> None:
    """A proxy on the same host connects from loopback and may add no header: on the
    app's port, no peer address opens admin data, loopback included."""
    app, _ = build()
    async with client(app, host) as http:
        for path in ADMIN_PATHS:
            response = await http.get(path)
            assert response.status_code == 403, path
            assert response.headers["content-type"] == "application/problem+json"
            # How to get in, and nothing about what is there.
            assert response.json()["detail"] == FORBIDDEN_DETAIL
        health = (await http.get("/healthz")).json()
    assert "checks" not in health  # the status alone


@pytest.mark.parametrize(
    ("host", "headers", "allowed"),
    [
        pytest.param("127.0.0.1", {}, True, id="loopback v4"),
        pytest.param("127.5.6.7", {}, True, id="loopback v4 range"),
        pytest.param("::1", {}, True, id="loopback v6"),
        pytest.param("::ffff:127.0.0.1", {}, True, id="dual-stack socket, v4 loopback"),
        pytest.param("::1%lo", {}, True, id="scoped"),
        pytest.param("::ffff:203.0.113.9", {}, False, id="dual-stack socket, remote"),
        pytest.param("203.0.113.9", {}, False, id="remote"),
        pytest.param("10.0.0.5", {}, False, id="private network"),
        pytest.param("localhost", {}, False, id="a name, not an address"),
        pytest.param(None, {}, False, id="no client (unix socket)"),
        *(
            pytest.param("127.0.0.1", {name: "203.0.113.9"}, False, id=f"proxied {name}")
            for name in FORWARDING
        ),
    ],
)
def test_the_admin_port_opens_to_loopback_clients_only(
    no_token: None, host: str | None, headers: dict[str, str], allowed: bool
) -> None:
    api = AdminAPI(token=None, stats=dict, requests=lambda s, n: [], ring_size=10)
    assert api.allowed(scope(host, admin_port=True, headers=headers)) is allowed
    # The same request on the app's port: never.
    assert api.allowed(scope(host, admin_port=False, headers=headers)) is False


@pytest.mark.parametrize(
    ("authorization", "allowed"),
    [
        pytest.param(f"Bearer {TOKEN}", True, id="Bearer"),
        pytest.param(f"bearer {TOKEN}", True, id="lower-case scheme (RFC 9110)"),
        pytest.param(f"BEARER  {TOKEN} ", True, id="upper case, extra spaces"),
        pytest.param(f"Bearer {TOKEN}x", False, id="longer token"),
        pytest.param(f"Bearer {TOKEN[:-1]}", False, id="shorter token"),
        pytest.param(TOKEN, False, id="no scheme"),
        pytest.param(f"Basic {TOKEN}", False, id="basic"),
        pytest.param("Bearer", False, id="no credentials"),
        pytest.param(None, False, id="no header"),
    ],
)
@pytest.mark.parametrize("host", ["203.0.113.9", "127.0.0.1"])
def test_the_token_opens_any_port(host: str, authorization: str | None, allowed: bool) -> None:
    api = AdminAPI(token=TOKEN, stats=dict, requests=lambda s, n: [], ring_size=10)
    headers = {} if authorization is None else {"Authorization": authorization}
    assert api.allowed(scope(host, admin_port=False, headers=headers)) is allowed
    if allowed:
        assert api.allowed(scope(host, admin_port=True, headers=headers))


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.255.0.9", True), ("::1", True), ("::ffff:127.0.0.1", True),
     ("::1%lo", True), ("::ffff:10.0.0.1", False), ("0.0.0.0", False), ("", False),
     ("::", False), ("x" * 300, False)],
)  # fmt: skip
def test_loopback_forms(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


# -- the admin port, in-process -------------------------------------------------------


async def fetch(url: str, **kwargs: Any) -> httpx.Response:
    # The admin port's thread hands the request to this test's loop: wait off the loop.
    return await anyio.to_thread.run_sync(lambda: httpx.request(url=url, timeout=10, **kwargs))


@pytest.mark.anyio
async def test_the_admin_port_serves_admin_data_without_a_token(no_token: None) -> None:
    port = free_port()
    app, poise = build(Settings(admin_port=port))
    async with running(app), client(app, "127.0.0.1") as http:
        await http.get("/items/3")
        base = f"http://127.0.0.1:{port}"
        stats = await fetch(f"{base}/_poise/api/stats", method="GET")
        recent = await fetch(f"{base}/_poise/api/requests?limit=1", method="GET")
        health = await fetch(f"{base}/healthz", method="GET")
        head = await fetch(f"{base}/_poise/api/stats", method="HEAD")
        post = await fetch(f"{base}/_poise/api/stats", method="POST")
        other = await fetch(f"{base}/items/3", method="GET")
        bad = await fetch(f"{base}/_poise/api/requests?limit=abc", method="GET")
        assert poise.admin_server is not None
        assert poise.admin_server.port == port
    assert stats.status_code == 200
    assert stats.json()["routes"]["GET /items/{item_id}"]["count"] == 1
    assert stats.json()["health"]["admin_port"] == port
    assert recent.json()["requests"][0]["route"] == "/items/{item_id}"
    assert health.status_code == 200
    assert "checks" in health.json()  # in full
    assert (head.status_code, head.content) == (200, b"")
    assert (post.status_code, post.headers["allow"]) == (405, "GET, HEAD")
    assert other.status_code == 404  # admin data only: the app is not served here
    assert bad.status_code == 400
    assert poise.admin_server is None  # closed with the app


@pytest.mark.anyio
async def test_a_busy_admin_port_keeps_the_app_serving(
    no_token: None, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app, poise = build(Settings(admin_port=port))
        async with running(app), client(app, "127.0.0.1") as http:
            assert (await http.get("/items/1")).status_code == 200
            assert poise.admin_server is None
    assert f"admin port 127.0.0.1:{port} not available" in caplog.text


@pytest.mark.anyio
async def test_an_admin_port_off_loopback_warns(
    no_token: None, caplog: pytest.LogCaptureFixture
) -> None:
    app, poise = build(Settings(admin_port=0, admin_host="0.0.0.0"))
    async with running(app):
        assert poise.admin_server is not None
    assert "not a loopback address" in caplog.text


# -- real processes -------------------------------------------------------------------


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.mark.uvicorn
@pytest.mark.anyio
async def test_a_same_host_tcp_proxy_gets_no_admin_data(serve: Callable[..., Server]) -> None:
    """The hole this rule closes: through a header-less forwarder on 127.0.0.1, the app's
    port saw a loopback peer and answered stats, ledgers and /healthz in full."""
    server = serve("health:app", env={"CHECK_MODE": "raise"})
    async with (
        forwarder(port_of(server.base_url)) as (proxy, _),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy}", timeout=10) as through,
    ):
        assert (await through.get("/items")).status_code in (200, 404)  # it does relay
        for path in ADMIN_PATHS:
            refused = await through.get(path)
            assert refused.status_code == 403, path
            assert refused.json()["detail"] == FORBIDDEN_DETAIL
            for name in FORWARDING:  # no forwarding header changes that
                assert (await through.get(path, headers={name: "127.0.0.1"})).status_code == 403
        health = (await through.get("/healthz")).json()
        assert "checks" not in health
        assert "output" not in health
        # With the token, through the same proxy: everything (lower-case scheme too).
        token = {"Authorization": f"bearer {ADMIN_TOKEN}"}
        assert (await through.get("/_poise/api/stats", headers=token)).status_code == 200
        assert "checks" in (await through.get("/healthz", headers=token)).json()
    async with httpx.AsyncClient(base_url=server.admin_url, timeout=10) as admin:
        # The operator on the host, on the admin port, without the token.
        assert (await admin.get("/_poise/api/stats")).status_code == 200
        assert "checks" in (await admin.get("/healthz")).json()


@pytest.mark.uvicorn
def test_without_a_token_the_app_port_refuses_everyone(serve: Callable[..., Server]) -> None:
    server = serve("health:app", env={"POISE_ADMIN_TOKEN": ""})
    assert httpx.get(f"{server.base_url}/_poise/api/stats").status_code == 403
    assert httpx.get(f"{server.admin_url}/_poise/api/stats").status_code == 200


@pytest.mark.uvicorn
def test_a_dual_stack_admin_port_knows_its_ipv4_clients(serve: Callable[..., Server]) -> None:
    """Bound to ``::`` (dual stack), the admin port sees a client of 127.0.0.1 as
    ``::ffff:127.0.0.1``: still this host (it was refused before)."""
    server = serve("health:app", env={"POISE_ADMIN_TOKEN": "", "POISE_ADMIN_HOST": "::"})
    assert httpx.get(f"{server.base_url}/_poise/api/stats").status_code == 403
    assert httpx.get(f"{server.admin_url}/_poise/api/stats").status_code == 200
    v6 = server.admin_url.replace("127.0.0.1", "[::1]")
    assert httpx.get(f"{v6}/_poise/api/stats").status_code == 200
    assert "not a loopback address" in server.output()
