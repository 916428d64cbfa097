"""Negative: work handed to a thread of its own (threading.Thread / Timer targets) runs
off the event loop; only joining it from the route would block."""

import threading
import time

from fastapi import FastAPI

app = FastAPI()


def rebuild_search_index() -> None:
    time.sleep(2)  # stands for a slow rebuild; it runs in its own thread


def expire_sessions(user_id: str) -> None:
    time.sleep(1)


@app.post("/admin/reindex")
async def reindex() -> dict:
    threading.Thread(target=rebuild_search_index, daemon=True).start()
    return {"status": "started"}


@app.post("/users/{user_id}/logout")
async def logout(user_id: str) -> dict:
    threading.Timer(30.0, expire_sessions, args=(user_id,)).start()
    return {"status": "bye"}
