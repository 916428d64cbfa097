"""PSE101: psycopg2 cursor.execute / commit in an async route."""

import psycopg2
from fastapi import FastAPI

app = FastAPI()

DATABASE_URL = "postgresql://app:secret@db:5432/shop"

conn = psycopg2.connect(DATABASE_URL)


@app.post("/orders/{order_id}/cancel")
async def cancel_order(order_id: int) -> dict:
    with conn.cursor() as cur:
        cur.execute("UPDATE orders SET status = 'cancelled' WHERE id = %s", (order_id,))
        updated = cur.rowcount
    conn.commit()
    return {"cancelled": updated == 1}
