"""What both flavours of the shop share: configuration, the database, schemas, pure helpers.

Nothing here decides *where* work runs. The CPU-heavy helpers (:func:`build_report`) are
plain synchronous functions, so ``burnt`` can call them on the event loop and ``healthy``
can hand them to a worker thread; the database helpers are async and the same in both.

Configuration is read from the environment when an app starts (in its lifespan), not at
import, so one process (a test run, say) can start the same app against different
databases and payment providers one after the other.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Final, Literal

import anyio
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import DateTime, Integer, String, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "CSV_COLUMNS",
    "FULFILMENT_LOG",
    "FX_LOOKUP_SECONDS",
    "WAREHOUSE_SECONDS",
    "Base",
    "CurrencyPath",
    "Database",
    "Order",
    "OrderIdPath",
    "OrderIn",
    "OrderOut",
    "OrderStatus",
    "Report",
    "SessionDep",
    "SettingsDep",
    "ShopSettings",
    "all_orders",
    "build_report",
    "create_order",
    "fulfilment_line",
    "fx_rate",
    "get_session",
    "get_settings",
    "make_engine",
    "open_database",
    "prepare_report_dir",
    "read_router",
    "receipt_path",
    "receipt_text",
    "render_orders_csv",
    "report_digest",
    "risk_score",
    "set_status",
    "utc_now",
]

DEFAULT_PAYMENTS_URL: Final = "http://127.0.0.1:8101"
DEFAULT_SQLITE_NAME: Final = "poise_shop.sqlite3"
DEFAULT_REPORT_DIR_NAME: Final = "poise_shop_reports"

# How long the simulated slow parts take. Short on purpose: the burnt flavour must block
# the loop measurably, yet a demo of a few hundred requests has to finish in seconds.
FX_LOOKUP_SECONDS: Final = 0.01
WAREHOUSE_SECONDS: Final = 0.01

# PBKDF2 rounds for the report digest: about 20 ms of CPU on a laptop core. It stands in
# for the signing, compression or dataframe work real exports do.
REPORT_DIGEST_ITERATIONS: Final = 40_000
REPORT_DIGEST_SALT: Final = b"poise-shop-report"

FULFILMENT_LOG: Final = "fulfilment.log"

SQLITE_LOCK_TIMEOUT: Final = 30.0

FX_RATES: Final[Mapping[str, float]] = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "JPY": 151.2}

CSV_COLUMNS: Final = (
    "id",
    "created_at",
    "customer",
    "item",
    "quantity",
    "amount_cents",
    "status",
    "risk_score",
)

OrderStatus = Literal["pending", "paid", "payment_failed"]


# -- configuration ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ShopSettings:
    """The shop's configuration, read from the environment by :meth:`from_env`.

    Attributes:
        database_url: an SQLAlchemy async URL (``DATABASE_URL``), or SQLite through
            aiosqlite at ``SHOP_SQLITE_PATH`` (default: a file in the system temp dir).
        payments_url: the payment provider's base URL (``PAYMENTS_URL``).
        report_dir: where receipts and the fulfilment log go (``SHOP_REPORT_DIR``).
    """

    database_url: str
    payments_url: str
    report_dir: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ShopSettings:
        """Build the settings from ``environ`` (default: ``os.environ``).

        Raises:
            ValueError: ``PAYMENTS_URL`` is not an http(s) URL.
        """
        env = os.environ if environ is None else environ
        temp = Path(tempfile.gettempdir())
        database_url = env.get("DATABASE_URL") or (
            f"sqlite+aiosqlite:///{env.get('SHOP_SQLITE_PATH') or temp / DEFAULT_SQLITE_NAME}"
        )
        payments_url = (env.get("PAYMENTS_URL") or DEFAULT_PAYMENTS_URL).rstrip("/")
        if not payments_url.startswith(("http://", "https://")):
            raise ValueError(
                f"PAYMENTS_URL must be an http:// or https:// URL, got {payments_url!r}"
            )
        report_dir = Path(env.get("SHOP_REPORT_DIR") or temp / DEFAULT_REPORT_DIR_NAME)
        return cls(database_url=database_url, payments_url=payments_url, report_dir=report_dir)

    def __repr__(self) -> str:
        # A DATABASE_URL may carry a password; keep it out of logs and tracebacks.
        safe_url = make_url(self.database_url).render_as_string(hide_password=True)
        return (
            f"ShopSettings(database_url={safe_url!r}, payments_url={self.payments_url!r}, "
            f"report_dir={str(self.report_dir)!r})"
        )


# -- database --------------------------------------------------------------------------


class Base(DeclarativeBase):
    """The declarative base of the shop's tables."""


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class Order(Base):
    """One order: who bought what, for how much, and whether it is paid."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer: Mapped[str] = mapped_column(String(100))
    item: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[int] = mapped_column(Integer)
    amount_cents: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


@dataclass(frozen=True)
class Database:
    """An engine and the session factory bound to it."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]


def make_engine(
    url: str, *, pool_size: int, max_overflow: int, pool_timeout: float = 30.0
) -> AsyncEngine:
    """Create the async engine, with the given pool budget on a server database.

    The pool arguments matter for a database server, which accepts a limited number of
    connections (PostgreSQL: ``max_connections``, 100 by default) shared by every worker
    process of every app using it. SQLite has no server and no such budget, and
    SQLAlchemy picks its own pool for it, so they are not applied there.

    Args:
        url: an SQLAlchemy async URL (``postgresql+asyncpg://...``, ``sqlite+aiosqlite://...``).
        pool_size: connections kept open per process.
        max_overflow: extra connections opened under load on top of ``pool_size``.
        pool_timeout: seconds a request waits for a free connection before failing.
    """
    if make_url(url).get_backend_name() == "sqlite":
        # SQLite takes one writer at a time; the others wait for its lock, 5 s by default.
        # A stalled event loop holds that lock for as long as it stalls, so be patient
        # enough for the burnt flavour to be slow under load rather than fail.
        return create_async_engine(url, connect_args={"timeout": SQLITE_LOCK_TIMEOUT})
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_pre_ping=True,
    )


@asynccontextmanager
async def open_database(engine: AsyncEngine) -> AsyncIterator[Database]:
    """Create the tables, yield the database, and dispose of the engine on the way out."""
    try:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        yield Database(engine, async_sessionmaker(engine, expire_on_commit=False))
    finally:
        await engine.dispose()


async def prepare_report_dir(report_dir: Path) -> None:
    """Create the report directory and its ``receipts`` folder if they are missing."""
    await anyio.Path(report_dir, "receipts").mkdir(parents=True, exist_ok=True)


async def create_order(session: AsyncSession, order_in: OrderIn) -> Order:
    """Insert a ``pending`` order and commit, so the payment is never taken for nothing."""
    order = Order(
        customer=order_in.customer,
        item=order_in.item,
        quantity=order_in.quantity,
        amount_cents=order_in.amount_cents,
        status="pending",
    )
    session.add(order)
    await session.commit()
    return order


async def set_status(session: AsyncSession, order: Order, status: OrderStatus) -> None:
    """Record the outcome of the payment."""
    order.status = status
    await session.commit()


# -- dependencies ----------------------------------------------------------------------
# Async on purpose: FastAPI runs a plain ``def`` dependency in the thread pool, a thread
# hop on every request for what is an attribute lookup.


async def get_settings(request: Request) -> ShopSettings:
    """The settings the app's lifespan read at start-up."""
    settings: ShopSettings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for the duration of the request."""
    database: Database = request.app.state.db
    async with database.sessions() as session:
        yield session


SettingsDep = Annotated[ShopSettings, Depends(get_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]


# -- schemas ---------------------------------------------------------------------------


class OrderIn(BaseModel):
    """A new order as the client sends it."""

    model_config = ConfigDict(extra="forbid")

    customer: str = Field(min_length=1, max_length=100)
    item: str = Field(min_length=1, max_length=100)
    quantity: int = Field(ge=1, le=1000)
    unit_price_cents: int = Field(gt=0, le=1_000_000)

    @property
    def amount_cents(self) -> int:
        """What the order costs in total."""
        return self.quantity * self.unit_price_cents


class OrderOut(BaseModel):
    """An order as the API returns it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    customer: str
    item: str
    quantity: int
    amount_cents: int
    status: str
    created_at: datetime

    @field_validator("created_at")
    @classmethod
    def _assume_utc(cls, value: datetime) -> datetime:
        # SQLite keeps no offset; every timestamp the shop writes is UTC.
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# -- the read-only routes, the same in both flavours -----------------------------------

# Path parameters with examples: the docs show them, and `poise doctor --probe` can call
# the routes (it fills path parameters from the OpenAPI examples).
OrderIdPath = Annotated[int, PathParam(examples=[1])]
CurrencyPath = Annotated[str, PathParam(examples=["EUR"], min_length=3, max_length=3)]

read_router = APIRouter(tags=["orders"])


@read_router.get("/orders/{order_id}", response_model=OrderOut)
async def get_order(order_id: OrderIdPath, session: SessionDep) -> Order:
    """One order, or 404."""
    order = await session.get(Order, order_id)
    if order is None:
        raise HTTPException(status_code=404, detail=f"order {order_id} not found")
    return order


@read_router.get("/orders", response_model=list[OrderOut])
async def list_orders(
    session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> Sequence[Order]:
    """The most recent orders, newest first."""
    result = await session.scalars(select(Order).order_by(Order.id.desc()).limit(limit))
    return result.all()


async def all_orders(session: AsyncSession) -> list[OrderOut]:
    """Every order, oldest first, as plain data a worker thread may safely read."""
    result = await session.scalars(select(Order).order_by(Order.id))
    return [OrderOut.model_validate(order) for order in result]


# -- pure helpers ----------------------------------------------------------------------


def risk_score(order: OrderOut) -> float:
    """A toy fraud score in [0, 1]: big baskets and big amounts look riskier."""
    by_amount = min(order.amount_cents / 100_000, 1.0)
    by_quantity = min(order.quantity / 50, 1.0)
    return round(0.6 * by_amount + 0.4 * by_quantity, 3)


def render_orders_csv(orders: Sequence[OrderOut]) -> str:
    """The orders as CSV text with a header row (:data:`CSV_COLUMNS`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for order in orders:
        writer.writerow(
            (
                order.id,
                order.created_at.isoformat(),
                order.customer,
                order.item,
                order.quantity,
                order.amount_cents,
                order.status,
                f"{risk_score(order):.3f}",
            )
        )
    return buffer.getvalue()


def report_digest(text: str) -> str:
    """A deliberately slow fingerprint of a report (PBKDF2, ~20 ms of CPU)."""
    raw = hashlib.pbkdf2_hmac("sha256", text.encode(), REPORT_DIGEST_SALT, REPORT_DIGEST_ITERATIONS)
    return raw.hex()


@dataclass(frozen=True)
class Report:
    """The orders export: the CSV text, its digest and totals."""

    csv_text: str
    digest: str
    order_count: int
    total_cents: int

    def headers(self) -> dict[str, str]:
        """Response headers describing the report."""
        return {
            "Content-Disposition": 'attachment; filename="orders.csv"',
            "X-Report-Digest": self.digest,
            "X-Report-Orders": str(self.order_count),
            "X-Report-Total-Cents": str(self.total_cents),
        }


def build_report(orders: Sequence[OrderOut]) -> Report:
    """Render the export and fingerprint it. CPU-bound: keep it off the event loop."""
    csv_text = render_orders_csv(orders)
    return Report(
        csv_text=csv_text,
        digest=report_digest(csv_text),
        order_count=len(orders),
        total_cents=sum(order.amount_cents for order in orders),
    )


def receipt_path(report_dir: Path, order_id: int) -> Path:
    """Where the receipt of an order is written."""
    return report_dir / "receipts" / f"order-{order_id}.txt"


def receipt_text(order: Order, charge_id: str) -> str:
    """The receipt of a paid order."""
    return (
        f"order: {order.id}\n"
        f"customer: {order.customer}\n"
        f"item: {order.item} x {order.quantity}\n"
        f"amount_cents: {order.amount_cents}\n"
        f"charge: {charge_id}\n"
    )


def fulfilment_line(order: Order) -> str:
    """One line of the warehouse's fulfilment log."""
    return f"{order.id}\t{order.item}\t{order.quantity}\n"


def fx_rate(currency: str) -> float:
    """The exchange rate from USD to ``currency``.

    Raises:
        HTTPException: 404 for a currency the shop does not sell in.
    """
    rate = FX_RATES.get(currency.upper())
    if rate is None:
        raise HTTPException(status_code=404, detail=f"unknown currency {currency!r}")
    return rate
