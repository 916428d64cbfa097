"""PSE103: bcrypt.hashpw / bcrypt.checkpw on the event loop."""

import bcrypt
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

app = FastAPI()

PASSWORDS: dict[str, bytes] = {}


class Credentials(BaseModel):
    username: str
    password: str


@app.post("/users")
async def create_user(creds: Credentials) -> dict:
    PASSWORDS[creds.username] = bcrypt.hashpw(creds.password.encode(), bcrypt.gensalt(rounds=12))
    return {"username": creds.username}


@app.post("/login")
async def login(creds: Credentials) -> dict:
    stored = PASSWORDS.get(creds.username)
    if stored is None or not bcrypt.checkpw(creds.password.encode(), stored):
        raise HTTPException(status_code=401, detail="bad credentials")
    return {"username": creds.username}
