"""PSE103: hashlib.pbkdf2_hmac on the event loop."""

import hashlib
import secrets

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()

USERS: dict[str, tuple[bytes, bytes]] = {}


class Credentials(BaseModel):
    username: str
    password: str


def hash_password(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 600_000)


@app.post("/register")
async def register(creds: Credentials) -> dict:
    salt = secrets.token_bytes(16)
    USERS[creds.username] = (salt, hash_password(creds.password, salt))
    return {"username": creds.username}
