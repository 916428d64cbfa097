"""PSE101: pymysql cursor.execute in an async route."""

import pymysql
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()

db = pymysql.connect(
    host="mysql",
    user="analytics",
    password="secret",
    database="analytics",
    autocommit=True,
)


class Event(BaseModel):
    name: str
    user_id: int


@app.post("/events")
async def track_event(event: Event) -> dict:
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO events (name, user_id) VALUES (%s, %s)",
            (event.name, event.user_id),
        )
    return {"tracked": True}
