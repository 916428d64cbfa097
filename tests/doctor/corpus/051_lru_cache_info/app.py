"""PSE101/PSE102 as info: blocking work inside cached functions runs once."""

import functools
from functools import lru_cache
from pathlib import Path

import requests
from fastapi import FastAPI, Header

app = FastAPI()

FLAGS_FILE = "/etc/shop/flags.txt"
JWKS_URL = "https://auth.example.com/.well-known/jwks.json"


@lru_cache
def load_feature_flags() -> frozenset[str]:
    return frozenset(Path(FLAGS_FILE).read_text().split())


@functools.cache
def fetch_jwks() -> dict:
    return requests.get(JWKS_URL, timeout=5).json()


@app.get("/features")
async def features() -> list[str]:
    return sorted(load_feature_flags())


@app.get("/token/kid")
async def token_kid(authorization: str = Header()) -> dict:
    keys = fetch_jwks()["keys"]
    return {"kids": [k["kid"] for k in keys], "token_len": len(authorization)}
