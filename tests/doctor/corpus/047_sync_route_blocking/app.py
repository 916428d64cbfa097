"""PSE108 only: blocking calls inside a sync def route are fine (thread pool)."""

import sqlite3
import time

import requests
from fastapi import FastAPI

app = FastAPI()

db = sqlite3.connect("reports.db", check_same_thread=False)

FX_URL = "https://fx.example.com/latest"


@app.get("/reports/daily")
def daily_report() -> dict:
    rows = db.execute("SELECT day, total FROM daily_totals ORDER BY day DESC LIMIT 7").fetchall()
    rate = requests.get(FX_URL, params={"base": "EUR", "symbols": "USD"}, timeout=5).json()
    time.sleep(0.1)  # the FX API rate-limits bursts
    return {"rows": rows, "usd": rate["rates"]["USD"]}
