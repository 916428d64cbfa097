"""PSE101: sync redis.Redis used in an async route."""

import redis
from fastapi import FastAPI, HTTPException

app = FastAPI()

sessions = redis.Redis(host="redis", port=6379, decode_responses=True)


@app.get("/sessions/{sid}")
async def read_session(sid: str) -> dict:
    data = sessions.hgetall(f"session:{sid}")
    if not data:
        raise HTTPException(status_code=404, detail="no such session")
    return data
