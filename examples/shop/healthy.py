"""The shop done right: the same routes as ``burnt.py``, none of its pitfalls.

    uvicorn examples.shop.payments:app --port 8101
    uvicorn examples.shop.healthy:app --port 8000

One shared HTTP client with explicit timeouts, opened and closed with the app; waits
that yield to the loop; file and CPU work in worker threads; background work that
awaits instead of blocking; a connection pool sized within the database's budget.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Final

import anyio
import anyio.to_thread
import httpx
from fastapi import BackgroundTasks, Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse

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
from poise.health import postgres

__all__ = ["app"]

# Per worker: 10 kept + 5 under load = 15. Four workers stay at 60 of PostgreSQL's
# default max_connections=100, leaving room for migrations, admin and other clients.
POOL_SIZE: Final = 10
POOL_MAX_OVERFLOW: Final = 5
# A request that cannot get a connection in 5 s fails instead of queueing forever.
POOL_TIMEOUT: Final = 5.0

# Connect fast or fail; give the provider a little longer to answer a charge.
PAYMENTS_TIMEOUT: Final = httpx.Timeout(3.0, connect=1.0)
PAYMENTS_LIMITS: Final = httpx.Limits(max_connections=50, max_keepalive_connections=20)
# A health check must answer quickly even when the provider does not.
HEALTH_CHECK_TIMEOUT: Final = 1.0


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the database and the payments client once; close both on shutdown."""
    settings = ShopSettings.from_env()
    engine = make_engine(
        settings.database_url,
        pool_size=POOL_SIZE,
        max_overflow=POOL_MAX_OVERFLOW,
        pool_timeout=POOL_TIMEOUT,
    )
    async with (
        open_database(engine) as database,
        httpx.AsyncClient(
            base_url=settings.payments_url, timeout=PAYMENTS_TIMEOUT, limits=PAYMENTS_LIMITS
        ) as payments,
    ):
        await prepare_report_dir(settings.report_dir)
        app.state.settings = settings
        app.state.engine = engine
        app.state.db = database
        app.state.payments = payments
        yield


app = FastAPI(title="shop (healthy)", lifespan=lifespan)
poise = Poise(app)
app.include_router(read_router)

# Readiness (/readyz) follows the database: SELECT 1 through the app's own pool, which
# also reports the pool saturated instead of waiting for a connection. The provider is
# not critical: reads go on without it, so it only turns /healthz to "warn".
poise.health.add(postgres(lambda: getattr(app.state, "engine", None), name="database"))


@poise.health.check("payments", critical=False, timeout=HEALTH_CHECK_TIMEOUT)
async def payments_answer() -> None:
    client: httpx.AsyncClient = app.state.payments
    response = await client.get("/health", timeout=HEALTH_CHECK_TIMEOUT)
    response.raise_for_status()


async def get_payments(request: Request) -> httpx.AsyncClient:
    """The payments client shared by every request."""
    client: httpx.AsyncClient = request.app.state.payments
    return client


PaymentsDep = Annotated[httpx.AsyncClient, Depends(get_payments)]


@app.get("/health")
async def health(payments: PaymentsDep) -> JSONResponse:
    """Up, and whether the payment provider answers within a second."""
    try:
        response = await payments.get("/health", timeout=HEALTH_CHECK_TIMEOUT)
        response.raise_for_status()
    except httpx.HTTPError:
        return JSONResponse({"status": "degraded", "payments": "down"}, status_code=503)
    return JSONResponse({"status": "ok", "payments": response.json()["status"]})


async def notify_warehouse(report_dir: Path, line: str) -> None:
    """Tell the warehouse to ship (appends to the fulfilment log) without blocking."""
    await anyio.sleep(WAREHOUSE_SECONDS)
    async with await anyio.open_file(report_dir / FULFILMENT_LOG, "a", encoding="utf-8") as log:
        await log.write(line)


@app.post("/orders", response_model=OrderOut, status_code=201)
async def place_order(
    order_in: OrderIn,
    session: SessionDep,
    settings: SettingsDep,
    payments: PaymentsDep,
    background_tasks: BackgroundTasks,
) -> Order:
    """Create an order, charge it, write the receipt, and queue the shipping.

    Raises:
        HTTPException: 502 when the payment provider fails or does not answer in time;
            the order is kept, marked ``payment_failed``.
    """
    order = await create_order(session, order_in)
    try:
        charge = await payments.post(
            "/charges", json={"order_id": order.id, "amount_cents": order.amount_cents}
        )
        charge.raise_for_status()
    except httpx.HTTPError as exc:
        await set_status(session, order, "payment_failed")
        raise HTTPException(
            status_code=502, detail=f"payment provider failed for order {order.id}"
        ) from exc
    await set_status(session, order, "paid")
    await anyio.Path(receipt_path(settings.report_dir, order.id)).write_text(
        receipt_text(order, charge.json()["charge_id"]), encoding="utf-8"
    )
    background_tasks.add_task(notify_warehouse, settings.report_dir, fulfilment_line(order))
    return order


@app.get("/reports/orders.csv")
async def orders_report(session: SessionDep) -> Response:
    """Every order as CSV, with its digest and totals in headers."""
    orders = await all_orders(session)
    # Hand the connection back to the pool before the slow part, not after it.
    await session.close()
    report = await anyio.to_thread.run_sync(build_report, orders)
    return Response(report.csv_text, media_type="text/csv", headers=report.headers())


@app.get("/fx/{currency}")
async def exchange_rate(currency: CurrencyPath) -> dict[str, str | float]:
    """The USD exchange rate, from a (simulated) slow lookup that yields to the loop."""
    rate = fx_rate(currency)
    await anyio.sleep(FX_LOOKUP_SECONDS)
    return {"currency": currency.upper(), "rate": rate}
