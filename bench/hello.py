"""The hello-world apps the benchmarks compare: bare FastAPI, with poise, with poise's
loop monitor switched off, and with only the ledger and route statistics (admission and
the loop monitor off). ``/hello/{name}`` is an ``async def`` route; ``/sync/{name}``
the same as a ``def`` route, run in the thread pool."""

from __future__ import annotations

from fastapi import FastAPI

from poise import Poise, Settings


def build() -> FastAPI:
    app = FastAPI()

    @app.get("/hello/{name}")
    async def hello(name: str) -> dict[str, str]:
        return {"hello": name}

    @app.get("/sync/{name}")
    def sync_hello(name: str) -> dict[str, str]:
        return {"hello": name}

    return app


bare = build()
poised = build()
Poise(poised)
poised_no_loop = build()
Poise(poised_no_loop, Settings(loop_monitor=False))
poised_ledger_only = build()
Poise(poised_ledger_only, Settings(loop_monitor=False, admission=False))
