import urllib.request

import httpx
import requests
from fastapi import FastAPI

app = FastAPI()
STATUS = "https://status.example.com/api"


@app.get("/status/a")
async def status_a() -> dict:
    r = requests.get(f"{STATUS}/a")  # poise: ignore[PSE101] internal sidecar on localhost
    return r.json()


@app.get("/status/b")
async def status_b() -> dict:
    r = requests.get(f"{STATUS}/b", timeout=None)
    return r.json()


@app.get("/status/c")
async def status_c() -> dict:
    r = requests.get(f"{STATUS}/c")  # poise: ignore
    return r.json()


@app.get("/status/d")
async def status_d() -> dict:
    r = httpx.get(f"{STATUS}/d")
    return r.json()


@app.get("/status/e")
async def status_e() -> dict:
    r = httpx.get(f"{STATUS}/e", timeout=None)
    return r.json()


@app.get("/status/f")
async def status_f() -> dict:
    with urllib.request.urlopen(f"{STATUS}/f", timeout=5) as resp:
        return {"code": resp.status}


@app.get("/status/g")
async def status_g() -> dict:
    r = requests.get(f"{STATUS}/g", timeout=3)  # poise: ignore[PSE101, PSE105]
    return r.json()
