from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, FastAPI

from cache import get_cache

if TYPE_CHECKING:
    import requests
    from redis.asyncio import Redis

app = FastAPI()


@app.get("/profile/{user_id}")
async def profile(user_id: int, cache: Annotated[Redis, Depends(get_cache)]) -> dict:
    cached = await cache.get(f"profile:{user_id}")
    return {"user_id": user_id, "cached": cached is not None}


def legacy_fetch(session: requests.Session, user_id: int) -> dict:
    """Kept for the nightly backfill script; not used by the API."""
    return session.get(f"https://legacy.internal/users/{user_id}").json()


def dump_routes(path: str = "routes.txt") -> None:
    with open(path, "w") as fh:
        for route in app.routes:
            fh.write(f"{route}\n")


if __name__ == "__main__":
    dump_routes()
