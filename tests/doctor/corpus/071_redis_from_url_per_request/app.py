"""PSE104: redis.asyncio clients created per request."""

import redis.asyncio as aioredis
from fastapi import FastAPI
from redis.asyncio import Redis

app = FastAPI()

REDIS_URL = "redis://redis:6379/0"


@app.get("/leaderboard")
async def leaderboard() -> list:
    r = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        return await r.zrevrange("leaderboard", 0, 9, withscores=True)
    finally:
        await r.aclose()


@app.post("/leaderboard/{player}")
async def add_score(player: str, points: int) -> dict:
    r = aioredis.from_url(REDIS_URL)
    try:
        score = await r.zincrby("leaderboard", points, player)
    finally:
        await r.aclose()
    return {"player": player, "score": score}
