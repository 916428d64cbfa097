from typing import Annotated

import redis
from fastapi import Depends, Header, HTTPException

revoked = redis.Redis(host="redis", decode_responses=True)


def decode_user_id(token: str) -> int:
    return int(token.split(".", 1)[0])


async def current_user_id(authorization: Annotated[str, Header()]) -> int:
    token = authorization.removeprefix("Bearer ")
    if revoked.sismember("revoked_tokens", token):
        raise HTTPException(status_code=401, detail="token revoked")
    return decode_user_id(token)


CurrentUserId = Annotated[int, Depends(current_user_id)]
