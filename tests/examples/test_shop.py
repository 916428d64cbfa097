"""The shop example: both flavours, on SQLite and PostgreSQL, charging a real provider.

Single requests succeed on both flavours alike; that is the point of the burnt one. What
sets it apart is checked statically: every pitfall it is meant to show is there, marked.
"""

from __future__ import annotations

import ast
import csv
import re
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import anyio
import httpx
import pytest
from examples.shop import common, payments
from examples.shop.common import (
    CSV_COLUMNS,
    FULFILMENT_LOG,
    Order,
    OrderOut,
    ShopSettings,
    make_engine,
    receipt_path,
    report_digest,
    risk_score,
)
from sqlalchemy.ext.asyncio import create_async_engine

if TYPE_CHECKING:
    from tests.examples.conftest import OpenShop, Shop

SHOP_DIR: Final = Path(common.__file__).parent
WIDGETS: Final = {"customer": "ada", "item": "widget", "quantity": 3, "unit_price_cents": 250}


async def place(client: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    """Place an order (three widgets for Ada unless told otherwise) and return it."""
    response = await client.post("/orders", json=WIDGETS | changes)
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


# -- behaviour, both flavours ----------------------------------------------------------


@pytest.mark.anyio
async def test_place_order_charges_persists_and_writes_receipt(shop: Shop) -> None:
    order = await place(shop.client)

    assert order["status"] == "paid"
    assert order["amount_cents"] == 750
    assert (order["customer"], order["item"], order["quantity"]) == ("ada", "widget", 3)

    # The charge really went through the provider, for this order and amount.
    receipt = await anyio.Path(receipt_path(shop.report_dir, order["id"])).read_text()
    match = re.search(r"^charge: (ch_[0-9a-f]+)$", receipt, re.MULTILINE)
    assert match is not None, receipt
    assert f"order: {order['id']}\n" in receipt
    async with httpx.AsyncClient(base_url=shop.payments_url) as provider:
        charge = await provider.get(f"/charges/{match[1]}")
    assert charge.json() == {
        "charge_id": match[1],
        "order_id": order["id"],
        "amount_cents": 750,
        "status": "captured",
    }

    # The background job ran (ASGITransport returns after the background tasks).
    log = await anyio.Path(shop.report_dir / FULFILMENT_LOG).read_text()
    assert log == f"{order['id']}\twidget\t3\n"

    # Persisted: read back with a connection of our own, not through the app.
    engine = create_async_engine(ShopSettings.from_env().database_url)
    try:
        async with engine.connect() as connection:
            row = (
                await connection.execute(
                    Order.__table__.select().where(Order.__table__.c.id == order["id"])
                )
            ).one()
    finally:
        await engine.dispose()
    assert (row.customer, row.amount_cents, row.status) == ("ada", 750, "paid")


@pytest.mark.anyio
async def test_get_order_returns_what_was_placed(shop: Shop) -> None:
    order = await place(shop.client, customer="grace", quantity=1)

    response = await shop.client.get(f"/orders/{order['id']}")

    assert response.status_code == 200
    assert response.json() == order


@pytest.mark.anyio
async def test_missing_order_is_404(shop: Shop) -> None:
    response = await shop.client.get("/orders/999999")

    assert response.status_code == 404
    assert response.json() == {"detail": "order 999999 not found"}


@pytest.mark.anyio
async def test_list_orders_newest_first_with_limit(shop: Shop) -> None:
    placed = [await place(shop.client, customer=name) for name in ("ada", "grace", "linus")]

    everything = await shop.client.get("/orders")
    latest_two = await shop.client.get("/orders", params={"limit": 2})
    too_few = await shop.client.get("/orders", params={"limit": 0})

    assert [o["id"] for o in everything.json()] == [o["id"] for o in reversed(placed)]
    assert [o["customer"] for o in latest_two.json()] == ["linus", "grace"]
    assert too_few.status_code == 422


@pytest.mark.anyio
async def test_orders_csv_report(shop: Shop) -> None:
    first = await place(shop.client)
    second = await place(shop.client, customer="grace", item="gadget", quantity=40)

    response = await shop.client.get("/reports/orders.csv")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    header, *rows = list(csv.reader(response.text.splitlines()))
    assert tuple(header) == CSV_COLUMNS
    expected = [OrderOut.model_validate(first), OrderOut.model_validate(second)]
    assert rows == [
        [
            str(o.id),
            o.created_at.isoformat(),
            o.customer,
            o.item,
            str(o.quantity),
            str(o.amount_cents),
            "paid",
            f"{risk_score(o):.3f}",
        ]
        for o in expected
    ]
    assert response.headers["x-report-orders"] == "2"
    assert response.headers["x-report-total-cents"] == str(750 + 40 * 250)
    assert response.headers["x-report-digest"] == report_digest(response.text)


@pytest.mark.anyio
async def test_orders_csv_report_of_no_orders_is_the_header(shop: Shop) -> None:
    response = await shop.client.get("/reports/orders.csv")

    assert response.text == ",".join(CSV_COLUMNS) + "\n"
    assert response.headers["x-report-orders"] == "0"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("currency", "status", "body"),
    [
        pytest.param("EUR", 200, {"currency": "EUR", "rate": 0.92}, id="known"),
        pytest.param("gbp", 200, {"currency": "GBP", "rate": 0.79}, id="lower-case"),
        pytest.param("XYZ", 404, {"detail": "unknown currency 'XYZ'"}, id="unknown"),
    ],
)
async def test_fx(shop: Shop, currency: str, status: int, body: dict[str, Any]) -> None:
    response = await shop.client.get(f"/fx/{currency}")

    assert (response.status_code, response.json()) == (status, body)


@pytest.mark.anyio
async def test_health_checks_the_payment_provider(shop: Shop) -> None:
    response = await shop.client.get("/health")

    assert (response.status_code, response.json()) == (200, {"status": "ok", "payments": "ok"})


@pytest.mark.anyio
async def test_healthy_keeps_the_order_and_answers_502_when_payments_are_down(
    open_shop: OpenShop, monkeypatch: pytest.MonkeyPatch, unused_url: str
) -> None:
    """The healthy flavour turns a dead provider into a 502 and a ``payment_failed`` order."""
    monkeypatch.setenv("PAYMENTS_URL", unused_url)
    async with open_shop("healthy") as shop:
        response = await shop.client.post("/orders", json=WIDGETS)
        orders = (await shop.client.get("/orders")).json()
        health = await shop.client.get("/health")

    assert response.status_code == 502
    assert [o["status"] for o in orders] == ["payment_failed"]
    assert (health.status_code, health.json()["payments"]) == (503, "down")


@pytest.fixture
def unused_url() -> str:
    """A URL nothing listens on (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        host, port = sock.getsockname()
    return f"http://{host}:{port}"


# -- the pitfalls ----------------------------------------------------------------------

PITFALL_KINDS: Final = frozenset(
    {
        "sync-http-in-async",
        "sleep-in-async",
        "sync-file-io-in-async",
        "client-per-request",
        "no-timeout",
        "cpu-on-loop",
        "blocking-background-task",
        "oversized-pool",
    }
)
MARKER: Final = re.compile(r"#\s*PITFALL:\s*([a-z-]+)")


@dataclass(frozen=True)
class Pitfall:
    """A ``# PITFALL:`` marker and the statement it marks."""

    kind: str
    comment: str
    line: int  # the first code line at or after the marker
    code: str


def read_pitfalls(source: str) -> list[Pitfall]:
    """Each marker, with the code line it applies to (its own, or the next code line)."""
    lines = source.splitlines()
    found = []
    for index, text in enumerate(lines):
        match = MARKER.search(text)
        if match is None:
            continue
        target = index
        while lines[target].lstrip().startswith("#"):
            target += 1
        comment = "\n".join(lines[index:target] or [text])
        found.append(Pitfall(match[1], comment, target + 1, lines[target]))
    return found


def dotted(node: ast.expr) -> str:
    """``requests.post`` for the callee ``requests.post``, ``""`` if not a plain name."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


@dataclass(frozen=True)
class CallSite:
    """A call in the module and the function it is in."""

    name: str
    call: ast.Call
    function: ast.FunctionDef | ast.AsyncFunctionDef | None


def call_sites(tree: ast.Module) -> list[CallSite]:
    """Every call in the module, with the innermost function around it."""
    sites = []

    def visit(node: ast.AST, function: ast.FunctionDef | ast.AsyncFunctionDef | None) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node
        if isinstance(node, ast.Call):
            sites.append(CallSite(dotted(node.func), node, function))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, None)
    return sites


def keyword(call: ast.Call, name: str) -> object:
    """The constant value of a keyword argument; ``KeyError`` if absent."""
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value.value if isinstance(kw.value, ast.Constant) else kw.value
    raise KeyError(name)


def is_blocking_background_task(site: CallSite, tree: ast.Module) -> bool:
    """``site`` blocks inside an ``async def`` handed to ``BackgroundTasks.add_task``."""
    if not isinstance(site.function, ast.AsyncFunctionDef) or site.name not in (
        "time.sleep",
        "open",
    ):
        return False
    scheduled = {
        dotted(s.call.args[0])
        for s in call_sites(tree)
        if s.name.endswith(".add_task") and s.call.args
    }
    return site.function.name in scheduled


def no_timeout(site: CallSite) -> bool:
    """``requests`` without ``timeout=``, or an httpx client with ``timeout=None``."""
    if site.name.startswith("requests."):
        return all(kw.arg != "timeout" for kw in site.call.keywords)
    if site.name in ("httpx.AsyncClient", "httpx.Client"):
        try:
            return keyword(site.call, "timeout") is None
        except KeyError:
            return False  # httpx's default is 5 s, not none
    return False


def in_async(site: CallSite) -> bool:
    return isinstance(site.function, ast.AsyncFunctionDef)


ROUTE_DECORATORS: Final = frozenset({"get", "post", "put", "patch", "delete", "api_route"})


def in_route(site: CallSite) -> bool:
    """The call runs on every request: it is in an ``@app.get(...)``-style handler."""
    if not isinstance(site.function, ast.AsyncFunctionDef):
        return False
    return any(
        isinstance(d, ast.Call) and dotted(d.func).rpartition(".")[2] in ROUTE_DECORATORS
        for d in site.function.decorator_list
    )


def marks(kind: str, site: CallSite, tree: ast.Module) -> bool:
    """Whether the call ``site`` is an instance of pitfall ``kind``."""
    if kind == "sync-http-in-async":
        return in_async(site) and site.name.startswith("requests.")
    if kind == "sleep-in-async":
        return in_async(site) and site.name == "time.sleep"
    if kind == "sync-file-io-in-async":
        return in_async(site) and site.name == "open"
    if kind == "client-per-request":
        return in_route(site) and site.name in ("httpx.AsyncClient", "httpx.Client")
    if kind == "no-timeout":
        return no_timeout(site)
    if kind == "cpu-on-loop":
        return in_async(site) and site.name in ("build_report", "hashlib.pbkdf2_hmac")
    if kind == "blocking-background-task":
        return is_blocking_background_task(site, tree)
    if kind == "oversized-pool":
        try:
            return (keyword(site.call, "pool_size"), keyword(site.call, "max_overflow")) == (
                200,
                100,
            )
        except KeyError:
            return False
    raise AssertionError(f"unknown pitfall kind {kind!r}")


def test_burnt_marks_every_pitfall_on_the_offending_line() -> None:
    source = (SHOP_DIR / "burnt.py").read_text()
    tree = ast.parse(source)
    sites = call_sites(tree)
    pitfalls = read_pitfalls(source)

    assert {p.kind for p in pitfalls} == PITFALL_KINDS
    for pitfall in pitfalls:
        on_line = [s for s in sites if s.call.lineno == pitfall.line]
        assert any(marks(pitfall.kind, s, tree) for s in on_line), (
            f"line {pitfall.line} is marked {pitfall.kind!r} but does not do it: "
            f"{pitfall.code.strip()!r}"
        )
    pool = next(p for p in pitfalls if p.kind == "oversized-pool")
    assert "max_connections=100" in pool.comment


def test_healthy_has_none_of_the_pitfalls() -> None:
    source = (SHOP_DIR / "healthy.py").read_text()
    tree = ast.parse(source)

    assert read_pitfalls(source) == []
    offending = [
        f"line {s.call.lineno}: {s.name}"
        for s in call_sites(tree)
        for kind in sorted(PITFALL_KINDS)
        if marks(kind, s, tree)
    ]
    assert offending == []


@pytest.mark.parametrize(
    ("source", "kinds"),
    [
        pytest.param("x = 1  # PITFALL: no-timeout\n", ["no-timeout"], id="inline"),
        pytest.param(
            "# PITFALL: sleep-in-async: why\n# more why\ntime.sleep(1)\n",
            ["sleep-in-async"],
            id="above-with-continuation",
        ),
        pytest.param("# a pitfall, unmarked\nx = 1\n", [], id="none"),
    ],
)
def test_read_pitfalls(source: str, kinds: list[str]) -> None:
    """The marker reader the pitfall test relies on finds markers inline and above."""
    found = read_pitfalls(source)

    assert [p.kind for p in found] == kinds
    assert all(not p.code.lstrip().startswith("#") for p in found)


# -- configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "database_url"),
    [
        pytest.param({}, "sqlite+aiosqlite:///{tmp}/poise_shop.sqlite3", id="default"),
        pytest.param(
            {"SHOP_SQLITE_PATH": "/data/shop.db"}, "sqlite+aiosqlite:////data/shop.db", id="path"
        ),
        pytest.param(
            {"DATABASE_URL": "postgresql+asyncpg://u@db/shop", "SHOP_SQLITE_PATH": "/x.db"},
            "postgresql+asyncpg://u@db/shop",
            id="database-url-wins",
        ),
    ],
)
def test_settings_database_url(environ: dict[str, str], database_url: str) -> None:
    settings = ShopSettings.from_env(environ)

    assert settings.database_url == database_url.format(tmp=tempfile.gettempdir())


def test_settings_defaults_and_overrides() -> None:
    default = ShopSettings.from_env({})
    custom = ShopSettings.from_env(
        {"PAYMENTS_URL": "https://pay.example/", "SHOP_REPORT_DIR": "/srv/reports"}
    )

    assert default.payments_url == "http://127.0.0.1:8101"
    assert default.report_dir == Path(tempfile.gettempdir()) / "poise_shop_reports"
    assert custom.payments_url == "https://pay.example"
    assert custom.report_dir == Path("/srv/reports")


def test_settings_reject_a_payments_url_that_is_not_http() -> None:
    with pytest.raises(ValueError, match=r"PAYMENTS_URL must be an http.*'ftp://pay'"):
        ShopSettings.from_env({"PAYMENTS_URL": "ftp://pay"})


def test_settings_repr_hides_the_database_password() -> None:
    settings = ShopSettings.from_env({"DATABASE_URL": "postgresql+asyncpg://u:hunter2@db/x"})

    assert "hunter2" not in repr(settings)
    assert "postgresql+asyncpg://u:***@db/x" in repr(settings)


@pytest.mark.anyio
async def test_make_engine_applies_the_pool_budget_on_a_server_database_only() -> None:
    server = make_engine("postgresql+asyncpg://u@db/x", pool_size=10, max_overflow=5)
    sqlite = make_engine("sqlite+aiosqlite:///:memory:", pool_size=200, max_overflow=100)
    try:
        assert server.pool.size() == 10  # type: ignore[attr-defined]
        assert server.pool._max_overflow == 5  # type: ignore[attr-defined]
        assert getattr(sqlite.pool, "size", lambda: None)() != 200
    finally:
        await server.dispose()
        await sqlite.dispose()


@pytest.mark.parametrize(
    ("value", "latency"),
    [
        pytest.param("", payments.DEFAULT_LATENCY, id="default"),
        pytest.param("0", 0.0, id="zero"),
        pytest.param("0.5", 0.5, id="seconds"),
    ],
)
def test_payments_latency(monkeypatch: pytest.MonkeyPatch, value: str, latency: float) -> None:
    monkeypatch.setenv("PAYMENTS_LATENCY", value)

    assert payments.read_latency() == latency


@pytest.mark.parametrize("value", ["-1", "soon", "nan"])
def test_payments_latency_rejects_bad_values(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PAYMENTS_LATENCY", value)

    with pytest.raises(ValueError, match=rf"PAYMENTS_LATENCY must be .* got {value!r}"):
        payments.read_latency()
