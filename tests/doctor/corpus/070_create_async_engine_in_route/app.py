"""PSE104: an SQLAlchemy async engine created per request."""

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

app = FastAPI()


@app.get("/tenants/{tenant}/stats")
async def tenant_stats(tenant: str) -> dict:
    engine = create_async_engine(f"postgresql+asyncpg://app:secret@db/{tenant}")
    try:
        async with engine.connect() as conn:
            total = await conn.scalar(text("SELECT count(*) FROM orders"))
    finally:
        await engine.dispose()
    return {"tenant": tenant, "orders": total}
