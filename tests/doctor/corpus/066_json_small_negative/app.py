"""Negative: json on small strings is not CPU-heavy."""

import json
import os

from fastapi import FastAPI

app = FastAPI()

DEFAULT_LIMITS = '{"per_minute": 60, "burst": 10}'


@app.get("/config")
async def config() -> dict:
    defaults = json.loads("{}")
    overrides = json.loads(os.environ.get("FEATURE_OVERRIDES", "{}"))
    limits = json.loads(DEFAULT_LIMITS)
    return {**defaults, **overrides, "limits": limits}


@app.get("/config/etag")
async def config_etag() -> dict:
    return {"etag": str(hash(json.dumps({"v": 3}, sort_keys=True)))}
