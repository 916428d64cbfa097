from typing import Annotated, AsyncIterator

import httpx
from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from repository import OrderRepository
from settings import Settings, get_settings


async def get_session(settings: Annotated[Settings, Depends(get_settings)]) -> AsyncIterator[AsyncSession]:
    engine = create_async_engine(settings.database_url, pool_pre_ping=True)
    try:
        async with AsyncSession(engine) as session:
            yield session
    finally:
        await engine.dispose()


async def get_repo(session: Annotated[AsyncSession, Depends(get_session)]) -> OrderRepository:
    return OrderRepository(session)


async def partner_client(
    settings: Annotated[Settings, Depends(get_settings)],
) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=settings.partner_url, timeout=None) as client:
        yield client
