"""PSE101: blocking calls in an async dependency and in its sub-dependency."""

from typing import Annotated

import redis
import requests
from fastapi import Depends, FastAPI, Header, HTTPException

app = FastAPI()

INTROSPECT_URL = "https://auth.example.com/oauth2/introspect"

profiles = redis.Redis(host="redis", decode_responses=True)


async def introspect_token(authorization: Annotated[str, Header()]) -> dict:
    token = authorization.removeprefix("Bearer ")
    resp = requests.post(INTROSPECT_URL, data={"token": token}, timeout=5)
    claims = resp.json()
    if not claims.get("active"):
        raise HTTPException(status_code=401, detail="inactive token")
    return claims


async def get_current_user(claims: dict = Depends(introspect_token)) -> dict:
    profile = profiles.hgetall(f"user:{claims['sub']}")
    return {"id": claims["sub"], **profile}


@app.get("/me")
async def me(user: dict = Depends(get_current_user)) -> dict:
    return user
