"""Negative: a project class with a `max_connections` parameter that is not a pool."""

from fastapi import FastAPI

from limits import RateLimits

app = FastAPI()
limits = RateLimits(max_connections=500, max_keepalive=100)


@app.get("/limits")
async def show_limits() -> dict:
    per_client = RateLimits(max_connections=200)
    return {"global": limits.max_connections, "per_client": per_client.max_connections}
