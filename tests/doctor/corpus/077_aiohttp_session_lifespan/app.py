"""PSE105: aiohttp.ClientSession without a timeout, created in the lifespan."""

from contextlib import asynccontextmanager

import aiohttp
from fastapi import FastAPI, Request


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.session = aiohttp.ClientSession(base_url="http://recommendations.internal")
    yield
    await app.state.session.close()


app = FastAPI(lifespan=lifespan)


@app.get("/recommendations/{user_id}")
async def recommendations(user_id: int, request: Request) -> list:
    async with request.app.state.session.get(f"/users/{user_id}") as resp:
        return await resp.json()
