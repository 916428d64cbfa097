"""A bare ASGI callable that knows nothing of lifespan, served through ``Poise(app)``."""

from __future__ import annotations

from typing import Any

from poise import Poise


async def bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http", "this app does not speak lifespan"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"bare"})


app = Poise(bare)
