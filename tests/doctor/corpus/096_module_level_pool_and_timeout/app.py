"""PSE110/PSE105 at module level (entry `module`); import-time blocking is not PSE101/102."""

import json

import requests
from fastapi import FastAPI
from sqlalchemy import text

from db import engine

CATALOG_URL = "http://catalog.internal/categories"

with open("/etc/shop/config.json") as fh:
    CONFIG = json.load(fh)

CATEGORIES = requests.get(CATALOG_URL).json()

app = FastAPI()


@app.get("/categories")
async def categories() -> list:
    return CATEGORIES


@app.get("/db/ping")
def db_ping() -> dict:
    with engine.connect() as conn:
        return {"ok": conn.execute(text("SELECT 1")).scalar() == 1}
