"""Apps for `poise run`'s own tests: a factory, a bare ASGI app without poise, and an
app whose start-up fails. ``MARKER`` (optional): a file each shutdown appends a line to.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    marker = os.environ.get("MARKER")
    if marker:
        with open(marker, "a") as out:
            out.write(f"shutdown {os.getpid()}\n")


def create_app() -> FastAPI:
    """A factory: `poise run runnable:create_app --factory`."""
    app = FastAPI(lifespan=lifespan)

    @app.get("/")
    async def root() -> dict[str, int]:
        return {"pid": os.getpid()}

    return app


async def bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """No poise, no lifespan: `poise run` serves it through a Poise wrapper."""
    if scope["type"] != "http":
        raise RuntimeError("this app does not speak lifespan")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"bare"})


@asynccontextmanager
async def failing_lifespan(app: FastAPI) -> AsyncIterator[None]:
    raise RuntimeError("the database is not there")
    yield  # pragma: no cover


broken = FastAPI(lifespan=failing_lifespan)
not_an_app = 42


def zero_args() -> None:
    """Callable, but not as app(scope, receive, send)."""


def create_broken_app() -> int:
    """A factory that returns something that is not an app."""
    return 7


def create_logging_app() -> FastAPI:
    """A factory for an app that configures root logging itself, as many do."""
    import logging

    logging.basicConfig(level=logging.INFO, format="ROOT %(name)s: %(message)s")
    return create_app()
