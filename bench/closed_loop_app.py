"""The apps ``bench/closed_loop.py`` loads, each bare, with ``Poise(app)`` and in observe mode.

- ``light``: ~1 ms of CPU, then 10 ms awaited (the app the closed-loop issue measured);
- ``overload`` is ``bench/overload_app.py`` (~5 ms of CPU, then 20 ms awaited);
- ``syncdb``: a ``def`` route with a sync SQLAlchemy ``Session`` (``with`` in the
  route), on the real PostgreSQL (psycopg), with a pool at least as large as the
  thread pool's 40 tokens, so the bare app cannot deadlock. ``DATABASE_URL``
  (default: the local server's ``postgres`` database) and a table
  ``poise_bench_items`` the bench creates.

Serve as ``bench.closed_loop_app:<app>_<variant>``, variant one of ``bare``, ``poised``,
``observed``.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from fastapi import FastAPI

from poise import Poise, Settings

DATABASE_URL = os.environ.get(
    "DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
TABLE = "poise_bench_items"


def burn(seconds: float) -> None:
    """Spin for ``seconds`` of this thread's CPU time (holds the loop, like real work)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def light() -> FastAPI:
    app = FastAPI()

    @app.get("/work")
    async def work() -> dict[str, str]:
        burn(0.001)
        await asyncio.sleep(0.010)
        return {"status": "ok"}

    return app


def syncdb() -> FastAPI:
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import sessionmaker

    # 40 + 10 connections: at least the thread pool's 40 tokens, and the session lives
    # inside the route (``with``), so each connection is back in the pool before the
    # route's thread is. With FastAPI's ``yield`` dependency instead, the connection is
    # held until the dependency's teardown gets a thread token of its own: at 200
    # connections every connection is then held by a request waiting for a token, and
    # the bare app deadlocks until pool_timeout (see tests/loop/ for that case).
    engine = create_engine(DATABASE_URL, pool_size=40, max_overflow=10, pool_timeout=30)
    session_factory = sessionmaker(engine)
    app = FastAPI()

    @app.get("/work")
    def work() -> dict[str, Any]:
        with session_factory() as db:
            row = db.execute(
                text(f"SELECT id, name, price FROM {TABLE} WHERE id = :id"),
                {"id": 1 + time.perf_counter_ns() % 1000},
            ).one()
        return {"id": row.id, "name": row.name, "price": float(row.price)}

    return app


def _variants(build: Any) -> tuple[FastAPI, FastAPI, FastAPI]:
    bare = build()
    poised = build()
    Poise(poised)
    observed = build()
    Poise(observed, Settings(admission="observe"))
    return bare, poised, observed


light_bare, light_poised, light_observed = _variants(light)


def __getattr__(name: str) -> FastAPI:
    # The other apps are built when asked for: syncdb needs the database driver and
    # server, and the overload app is bench/overload_app.py's.
    app, _, variant = name.rpartition("_")
    if app == "overload" and variant in ("bare", "poised", "observed"):
        from bench import overload_app

        if variant == "observed":
            observed = overload_app.build()
            Poise(observed, Settings(admission="observe"))
            return observed
        built: FastAPI = getattr(overload_app, variant)
        return built
    if app == "syncdb" and variant in ("bare", "poised", "observed"):
        index = ("bare", "poised", "observed").index(variant)
        return _variants(syncdb)[index]
    raise AttributeError(name)
