"""PSE110: an oversized pool requested through a project wrapper."""

from contextlib import asynccontextmanager

from fastapi import FastAPI

from db import make_engine

DATABASE_URL = "postgresql+asyncpg://app:secret@db/app"


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.engine = make_engine(DATABASE_URL, pool_size=80, max_overflow=20)
    yield
    await app.state.engine.dispose()


app = FastAPI(lifespan=lifespan)


@app.get("/ping")
async def ping() -> dict:
    return {"ok": True}
