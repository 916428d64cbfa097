"""PSE101/102/103 as info in the lifespan (runs once); a lifespan is not PSE107."""

import json
from contextlib import asynccontextmanager
from pathlib import Path

import requests
from fastapi import FastAPI, Request

SETTINGS_FILE = "/etc/shop/settings.json"
JWKS_URL = "https://auth.example.com/.well-known/jwks.json"


@asynccontextmanager
async def lifespan(app: FastAPI):
    raw = Path(SETTINGS_FILE).read_text()
    app.state.settings = json.loads(raw)
    app.state.jwks = requests.get(JWKS_URL, timeout=5).json()
    yield


app = FastAPI(lifespan=lifespan)


@app.get("/settings/public")
async def public_settings(request: Request) -> dict:
    return {"currency": request.app.state.settings["currency"]}
