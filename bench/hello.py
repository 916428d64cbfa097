"""The hello-world apps the overhead benchmark compares: bare FastAPI, and with poise."""

from __future__ import annotations

from fastapi import FastAPI

from poise import Poise


def build() -> FastAPI:
    app = FastAPI()

    @app.get("/hello/{name}")
    async def hello(name: str) -> dict[str, str]:
        return {"hello": name}

    return app


bare = build()
poised = build()
Poise(poised)
