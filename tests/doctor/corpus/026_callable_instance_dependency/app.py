"""PSE101: async __call__ of a callable-instance dependency blocks."""

import redis
from fastapi import Depends, FastAPI, HTTPException, Request

app = FastAPI()

counters = redis.Redis(host="redis")


class RateLimiter:
    def __init__(self, limit: int, window: int) -> None:
        self.limit = limit
        self.window = window

    async def __call__(self, request: Request) -> None:
        key = f"rl:{request.client.host}:{request.url.path}"
        hits = counters.incr(key)
        if hits == 1:
            counters.expire(key, self.window)
        if hits > self.limit:
            raise HTTPException(status_code=429, detail="slow down")


search_limit = RateLimiter(limit=30, window=60)


@app.get("/search", dependencies=[Depends(search_limit)])
async def search(q: str) -> dict:
    return {"q": q, "results": []}
