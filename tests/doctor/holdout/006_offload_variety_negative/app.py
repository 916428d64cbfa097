import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import anyio
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from reports import build_csv, fetch_exchange_rates, render_chart, resize_all

app = FastAPI()
EXECUTOR = ThreadPoolExecutor(max_workers=4)


@app.get("/reports/{tenant_id}.csv")
async def tenant_report(tenant_id: int) -> dict:
    path = await asyncio.to_thread(partial(build_csv, tenant_id, delimiter=";"))
    return {"path": path}


@app.get("/rates")
async def rates(base: str = "EUR") -> dict:
    return await run_in_threadpool(fetch_exchange_rates, base)


@app.get("/charts/{name}")
async def chart(name: str) -> dict:
    png = await anyio.to_thread.run_sync(render_chart, name)
    return {"bytes": len(png)}


@app.post("/images/resize")
async def resize(names: list[str]) -> dict:
    loop = asyncio.get_running_loop()
    done = await loop.run_in_executor(EXECUTOR, resize_all, names)
    futures = [EXECUTOR.submit(render_chart, n) for n in names]
    return {"done": done, "queued": len(futures)}
