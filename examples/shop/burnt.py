"""The shop, burnt out: the classic async pitfalls, each marked ``# PITFALL: <kind>``.

    uvicorn examples.shop.payments:app --port 8101
    uvicorn examples.shop.burnt:app --port 8000

Every route works and every single-request test passes. Under concurrent load the
blocking calls stall every other request on the worker, the outbound calls have no
timeouts to give up with, and the pool would flood a real database. ``healthy.py`` is
the same service done right; the README has the table of pitfall and counterpart.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import requests
from fastapi import BackgroundTasks, FastAPI, Response

from examples.shop.common import (
    FULFILMENT_LOG,
    FX_LOOKUP_SECONDS,
    WAREHOUSE_SECONDS,
    CurrencyPath,
    Order,
    OrderIn,
    OrderOut,
    SessionDep,
    SettingsDep,
    ShopSettings,
    all_orders,
    build_report,
    create_order,
    fulfilment_line,
    fx_rate,
    make_engine,
    open_database,
    prepare_report_dir,
    read_router,
    receipt_path,
    receipt_text,
    set_status,
)
from poise import Poise

__all__ = ["app"]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Read the settings, open the database, and keep both on ``app.state``."""
    settings = ShopSettings.from_env()
    # PITFALL: oversized-pool: up to 300 connections per worker, while PostgreSQL's
    # default max_connections=100 is shared by every worker and every other client.
    engine = make_engine(settings.database_url, pool_size=200, max_overflow=100)
    async with open_database(engine) as database:
        await prepare_report_dir(settings.report_dir)
        app.state.settings = settings
        app.state.db = database
        yield


app = FastAPI(title="shop (burnt)", lifespan=lifespan)
Poise(app)
app.include_router(read_router)


@app.get("/health")
async def health(settings: SettingsDep) -> dict[str, str]:
    """Up, and so is the payment provider."""
    # PITFALL: client-per-request: a new connection pool (and TLS set-up) on every call.
    # PITFALL: no-timeout: timeout=None turns off httpx's default; a hung provider hangs us.
    async with httpx.AsyncClient(timeout=None) as client:
        response = await client.get(f"{settings.payments_url}/health")
    return {"status": "ok", "payments": response.json()["status"]}


async def notify_warehouse(report_dir: Path, line: str) -> None:
    """Tell the warehouse to ship (appends to the fulfilment log)."""
    # BackgroundTasks run on the same event loop after the response: an async function
    # that blocks here stalls every request the worker is serving.
    # PITFALL: blocking-background-task: time.sleep in an async background task.
    time.sleep(WAREHOUSE_SECONDS)
    # PITFALL: blocking-background-task: synchronous file I/O in an async background task.
    with open(report_dir / FULFILMENT_LOG, "a", encoding="utf-8") as log:
        log.write(line)


@app.post("/orders", response_model=OrderOut, status_code=201)
async def place_order(
    order_in: OrderIn,
    session: SessionDep,
    settings: SettingsDep,
    background_tasks: BackgroundTasks,
) -> Order:
    """Create an order, charge it, write the receipt, and queue the shipping."""
    order = await create_order(session, order_in)
    # PITFALL: sync-http-in-async: requests.post holds the event loop for the round trip.
    # PITFALL: no-timeout: without timeout= a provider that never answers blocks forever.
    charge = requests.post(
        f"{settings.payments_url}/charges",
        json={"order_id": order.id, "amount_cents": order.amount_cents},
    )
    charge.raise_for_status()
    await set_status(session, order, "paid")
    # PITFALL: sync-file-io-in-async: open() and write() block the loop on a slow disk.
    with open(receipt_path(settings.report_dir, order.id), "w", encoding="utf-8") as receipt:
        receipt.write(receipt_text(order, charge.json()["charge_id"]))
    background_tasks.add_task(notify_warehouse, settings.report_dir, fulfilment_line(order))
    return order


@app.get("/reports/orders.csv")
async def orders_report(session: SessionDep) -> Response:
    """Every order as CSV, with its digest and totals in headers."""
    orders = await all_orders(session)
    # PITFALL: cpu-on-loop: rendering and PBKDF2-hashing the whole export in async def.
    report = build_report(orders)
    return Response(report.csv_text, media_type="text/csv", headers=report.headers())


@app.get("/fx/{currency}")
async def exchange_rate(currency: CurrencyPath) -> dict[str, str | float]:
    """The USD exchange rate, from a (simulated) slow synchronous lookup."""
    rate = fx_rate(currency)
    # PITFALL: sleep-in-async: time.sleep in async def freezes every request on the worker.
    time.sleep(FX_LOOKUP_SECONDS)
    return {"currency": currency.upper(), "rate": rate}
