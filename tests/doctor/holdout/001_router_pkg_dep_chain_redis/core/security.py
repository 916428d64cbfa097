from typing import Annotated

from fastapi import Depends, Header, HTTPException, status

from core.cache import session_store
from core.schemas import User


async def bearer_token(authorization: Annotated[str | None, Header()] = None) -> str:
    if not authorization or not authorization.startswith("Bearer "):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing token")
    return authorization.removeprefix("Bearer ")


async def get_current_user(token: Annotated[str, Depends(bearer_token)]) -> User:
    username = session_store.get(f"session:{token}")
    if username is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "session expired")
    return User(username=username)


CurrentUser = Annotated[User, Depends(get_current_user)]
