"""A FastAPI app that starves its thread pool: FastAPI's documented sync session pattern
on a pool smaller than the thread pool (a deadlock), and plain sleeping ``def`` routes
(saturation).

Environment:

- ``THREAD_TOKENS``: the size of anyio's default thread limiter, set at start-up.
- ``DATABASE_URL`` (a ``postgresql+psycopg://`` URL, optional): the engine behind
  ``/items``, with ``POOL_SIZE`` connections (``max_overflow=0``) and ``POOL_TIMEOUT``.
- ``STARVING_BARE=1``: serve the app without poise (the exploratory reproduction).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import Depends, FastAPI
from pydantic import BaseModel
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from poise import Poise

DATABASE_URL = os.environ.get("DATABASE_URL")
engine = (
    create_engine(
        DATABASE_URL,
        pool_size=int(os.environ.get("POOL_SIZE", "2")),
        max_overflow=0,
        pool_timeout=float(os.environ.get("POOL_TIMEOUT", "30")),
    )
    if DATABASE_URL
    else None
)
SessionLocal = sessionmaker(autocommit=False, autoflush=False, bind=engine)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    tokens = os.environ.get("THREAD_TOKENS")
    if tokens:
        anyio.to_thread.current_default_thread_limiter().total_tokens = int(tokens)
    yield
    if engine is not None:
        engine.dispose()


app = FastAPI(lifespan=lifespan)


def get_db() -> Iterator[Session]:
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


class Item(BaseModel):
    value: int


@app.get("/items", response_model=Item)
def read_item(db: Session = Depends(get_db)) -> Any:
    # The session keeps its connection until get_db's teardown; validating the
    # response_model of a `def` route takes a thread first. With every thread held by
    # a request waiting for a connection, that is the deadlock. (A query of 100 ms: a
    # burst of requests all arrive while the first ones hold the connections.)
    return {"value": db.execute(text("SELECT 1 FROM pg_sleep(0.1)")).scalar_one()}


@app.get("/nap")
def nap() -> dict[str, str]:
    time.sleep(0.3)
    return {"route": "nap"}


@app.get("/hold")
def hold() -> dict[str, str]:
    time.sleep(2.0)
    return {"route": "hold"}


@app.get("/quick")
def quick() -> dict[str, str]:
    return {"route": "quick"}


@app.get("/fast")
async def fast() -> dict[str, str]:
    await asyncio.sleep(0)
    return {"route": "fast"}


if os.environ.get("STARVING_BARE") != "1":
    Poise(app)
