"""PSE101: sqlite3 Connection.execute in an async route."""

import sqlite3

from fastapi import FastAPI

app = FastAPI()

db = sqlite3.connect("shop.db", check_same_thread=False)
db.row_factory = sqlite3.Row


@app.get("/products")
async def list_products(limit: int = 20) -> list[dict]:
    rows = db.execute("SELECT id, name, price FROM products LIMIT ?", (limit,)).fetchall()
    return [dict(row) for row in rows]
