from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request

if TYPE_CHECKING:
    from redis.asyncio import Redis


async def get_cache(request: Request) -> Redis:
    return request.app.state.redis
