"""Negative: outbound calls that all carry a timeout."""

import smtplib
import urllib.request
from contextlib import asynccontextmanager

import aiohttp
import httpx
import requests
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool

STATUS_URL = "https://status.example.com/api/summary.json"
LEGACY_URL = "http://legacy.internal/ping"

pricing = httpx.AsyncClient(base_url="http://pricing.internal")


@asynccontextmanager
async def lifespan(app: FastAPI):
    timeout = aiohttp.ClientTimeout(total=10, connect=3)
    app.state.session = aiohttp.ClientSession(timeout=timeout)
    yield
    await app.state.session.close()
    await pricing.aclose()


app = FastAPI(lifespan=lifespan)


def fetch_status() -> dict:
    return requests.get(STATUS_URL, timeout=(3, 10)).json()


def ping_legacy_and_mail() -> int:
    with urllib.request.urlopen(LEGACY_URL, timeout=5) as resp:
        status = resp.status
    with smtplib.SMTP("smtp.example.com", 587, timeout=10) as smtp:
        smtp.noop()
    return status


@app.get("/status")
async def status() -> dict:
    return await run_in_threadpool(fetch_status)


@app.get("/legacy")
async def legacy() -> dict:
    return {"status": await run_in_threadpool(ping_legacy_and_mail)}


@app.get("/prices/{sku}")
async def price(sku: str) -> dict:
    resp = await pricing.get(f"/prices/{sku}")
    return resp.json()


@app.get("/feeds/{name}")
async def feed(name: str, request: Request) -> dict:
    async with request.app.state.session.get(f"https://feeds.example.com/{name}") as resp:
        return await resp.json()
