"""A fake payment provider for the shop, served on its own port.

    uvicorn examples.shop.payments:app --port 8101

``POST /charges`` captures a charge after a short simulated network and bank latency
(``PAYMENTS_LATENCY`` seconds, default 0.02), ``GET /charges/{charge_id}`` looks one up,
``GET /health`` says it is up. Charges live in memory for the life of the process.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final, Literal

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel, Field

__all__ = ["ChargeIn", "ChargeOut", "app"]

DEFAULT_LATENCY: Final = 0.02


def read_latency() -> float:
    """The simulated latency from ``PAYMENTS_LATENCY``.

    Raises:
        ValueError: the variable is not a non-negative number of seconds.
    """
    raw = os.environ.get("PAYMENTS_LATENCY", "")
    if not raw:
        return DEFAULT_LATENCY
    try:
        latency = float(raw)
    except ValueError:
        latency = -1.0
    if not latency >= 0:  # also rejects nan
        raise ValueError(f"PAYMENTS_LATENCY must be a number of seconds >= 0, got {raw!r}")
    return latency


class ChargeIn(BaseModel):
    """A charge request."""

    order_id: int = Field(ge=1)
    amount_cents: int = Field(gt=0)


class ChargeOut(BaseModel):
    """A captured charge."""

    charge_id: str
    order_id: int
    amount_cents: int
    status: Literal["captured"]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Read the configuration and start with an empty ledger of charges."""
    app.state.latency = read_latency()
    app.state.charges = {}
    yield


app = FastAPI(title="fake payments", lifespan=lifespan)


@app.get("/health")
async def health() -> dict[str, str]:
    """Liveness."""
    return {"status": "ok"}


@app.post("/charges", response_model=ChargeOut, status_code=201)
async def create_charge(charge_in: ChargeIn, request: Request) -> ChargeOut:
    """Capture a charge, after the simulated latency."""
    await asyncio.sleep(request.app.state.latency)
    charge = ChargeOut(
        charge_id=f"ch_{secrets.token_hex(8)}",
        order_id=charge_in.order_id,
        amount_cents=charge_in.amount_cents,
        status="captured",
    )
    charges: dict[str, ChargeOut] = request.app.state.charges
    charges[charge.charge_id] = charge
    return charge


@app.get("/charges/{charge_id}", response_model=ChargeOut)
async def get_charge(charge_id: str, request: Request) -> ChargeOut:
    """One charge, or 404."""
    charges: dict[str, ChargeOut] = request.app.state.charges
    charge = charges.get(charge_id)
    if charge is None:
        raise HTTPException(status_code=404, detail=f"charge {charge_id!r} not found")
    return charge
