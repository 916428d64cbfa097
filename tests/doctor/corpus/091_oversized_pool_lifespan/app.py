"""PSE110: pools larger than the per-process budget, created in the lifespan."""

from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

DATABASE_URL = "postgresql+asyncpg://app:secret@db/app"
DSN = "postgresql://app:secret@db/app"


@asynccontextmanager
async def lifespan(app: FastAPI):
    engine = create_async_engine(
        DATABASE_URL,
        pool_size=200,
        max_overflow=100,
        pool_pre_ping=True,
    )
    app.state.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    app.state.pg = await asyncpg.create_pool(DSN, min_size=10, max_size=100)
    yield
    await app.state.pg.close()
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


@app.get("/ping")
async def ping() -> dict:
    return {"ok": True}
