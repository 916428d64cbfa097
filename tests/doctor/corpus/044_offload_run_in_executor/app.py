"""Negative: blocking work offloaded with loop.run_in_executor and executor.submit."""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from fastapi import FastAPI

app = FastAPI()

GEOCODER_URL = "https://geocoder.example.com/search"

pool = ThreadPoolExecutor(max_workers=4)


def geocode(address: str) -> dict:
    resp = requests.get(GEOCODER_URL, params={"q": address}, timeout=5)
    return resp.json()


def slow_legacy_lookup(code: str) -> str:
    time.sleep(0.2)  # the legacy SDK polls
    return code.upper()


@app.get("/geocode")
async def geocode_route(address: str) -> dict:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, geocode, address)


@app.get("/legacy/{code}")
async def legacy(code: str) -> dict:
    future = pool.submit(slow_legacy_lookup, code)
    return {"code": await asyncio.wrap_future(future)}
