import os

import psycopg2
import psycopg2.extras
from fastapi import FastAPI, HTTPException
from pymongo import MongoClient
from pymongo.collection import Collection

DSN = os.environ.get("PG_DSN", "dbname=inventory user=api host=db")

mongo = MongoClient(os.environ.get("MONGO_URL", "mongodb://mongo:27017"), serverSelectionTimeoutMS=2000)
products: Collection = mongo["catalog"]["products"]

app = FastAPI()


@app.get("/products/{sku}")
async def get_product(sku: str) -> dict:
    doc = products.find_one({"sku": sku}, {"_id": 0})
    if doc is None:
        raise HTTPException(404, "unknown sku")
    return doc


@app.get("/stock/{sku}")
async def get_stock(sku: str) -> dict:
    conn = psycopg2.connect(DSN)
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute("SELECT warehouse, qty FROM stock WHERE sku = %s", (sku,))
            rows = cur.fetchall()
    finally:
        conn.close()
    return {"sku": sku, "stock": rows}
