"""Negative: async routes with async (sub-)dependencies."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from models import Order

engine = create_async_engine("postgresql+asyncpg://app:secret@db/app", pool_size=10)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)

app = FastAPI()


async def get_session() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


async def get_token(authorization: Annotated[str, Header()]) -> str:
    if not authorization.startswith("Bearer "):
        raise HTTPException(status_code=401, detail="missing token")
    return authorization.removeprefix("Bearer ")


async def get_user_id(token: Annotated[str, Depends(get_token)]) -> int:
    return int(token.split(".", 1)[0])


@app.get("/me/orders")
async def my_orders(
    user_id: Annotated[int, Depends(get_user_id)],
    session: Annotated[AsyncSession, Depends(get_session)],
) -> list[dict]:
    result = await session.execute(select(Order).where(Order.user_id == user_id))
    return [{"id": o.id, "total": o.total} for o in result.scalars()]
