"""Negative: blocking work offloaded with anyio.to_thread.run_sync."""

import functools
import sqlite3

import anyio.to_thread
import boto3
from fastapi import FastAPI

app = FastAPI()

BUCKET = "shop-reports"
DB_PATH = "/srv/data/reports.db"

s3 = boto3.client("s3")
db = sqlite3.connect(DB_PATH, check_same_thread=False)


def count_rows(table: str) -> int:
    return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@app.get("/tables/{table}/count")
async def table_count(table: str) -> dict:
    count = await anyio.to_thread.run_sync(count_rows, table)
    return {"table": table, "rows": count}


@app.post("/reports/{key}/fetch")
async def fetch_report(key: str) -> dict:
    target = f"/tmp/{key.replace('/', '_')}"
    await anyio.to_thread.run_sync(functools.partial(s3.download_file, BUCKET, key, target))
    return {"saved": target}


@app.delete("/reports/{key}")
async def delete_report(key: str) -> dict:
    await anyio.to_thread.run_sync(s3.delete_object, BUCKET, key)
    return {"deleted": key}
