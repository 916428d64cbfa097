import time

import redis
from fastapi import HTTPException, Request


class RateLimiter:
    def __init__(self, limit: int, window: int = 60) -> None:
        self.limit = limit
        self.window = window
        self.redis = redis.Redis(host="redis", port=6379, db=1)

    async def __call__(self, request: Request) -> None:
        bucket = int(time.time()) // self.window
        key = f"rl:{request.client.host}:{bucket}"
        count = self.redis.incr(key)
        if count == 1:
            self.redis.expire(key, self.window)
        if count > self.limit:
            raise HTTPException(status_code=429, detail="slow down")


search_limiter = RateLimiter(limit=100)
