from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def make_engine(url: str, *, pool_size: int = 5, max_overflow: int = 10) -> AsyncEngine:
    return create_async_engine(url, pool_size=pool_size, max_overflow=max_overflow)
