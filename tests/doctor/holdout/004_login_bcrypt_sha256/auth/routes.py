import secrets

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from auth.passwords import (
    constant_time_equal,
    derive_reset_key,
    new_salt,
    token_fingerprint,
    verify_password,
)

router = APIRouter(tags=["auth"])

USERS: dict[str, bytes] = {}  # username -> bcrypt hash, loaded elsewhere


class LoginIn(BaseModel):
    username: str
    password: str


@router.post("/login")
async def login(body: LoginIn, request: Request) -> dict[str, str]:
    hashed = USERS.get(body.username)
    if hashed is None or not verify_password(body.password, hashed):
        raise HTTPException(status_code=401, detail="bad credentials")
    token = secrets.token_urlsafe(32)
    request.app.state.sessions[token_fingerprint(token)] = body.username
    return {"token": token}


@router.post("/password-reset")
async def password_reset(email: str) -> dict[str, str]:
    salt = new_salt()
    key = derive_reset_key(email, salt)
    return {"key": key.hex()}


@router.get("/session/check")
async def check_session(token: str, expected: str) -> dict[str, bool]:
    return {"ok": constant_time_equal(token_fingerprint(token), expected)}
