from typing import Annotated

import redis
import requests
from fastapi import Header, HTTPException

IAM_URL = "http://iam.internal"

api_keys = redis.Redis(host="redis", decode_responses=True)


async def verify_api_key(x_api_key: Annotated[str, Header()]) -> None:
    if not api_keys.sismember("api_keys", x_api_key):
        raise HTTPException(status_code=401, detail="bad api key")


async def require_admin(x_user: Annotated[str, Header()]) -> None:
    roles = requests.get(f"{IAM_URL}/users/{x_user}/roles", timeout=3).json()
    if "admin" not in roles:
        raise HTTPException(status_code=403, detail="admins only")
