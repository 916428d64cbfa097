import os
import time
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.templating import Jinja2Templates

from tickets import TicketStore, open_ticket, sleep

BASE_DIR = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(BASE_DIR / "templates"))

app = FastAPI()
store = TicketStore()


@app.post("/tickets")
async def create_ticket(title: str) -> dict:
    started = time.monotonic()
    ticket = open_ticket(store, title)
    await sleep(0)
    return {"id": ticket["id"], "took": time.monotonic() - started, "env": os.getenv("ENV", "dev")}


@app.get("/tickets/{ticket_id}")
async def get_ticket(ticket_id: int, request: Request):
    session = {"user": request.headers.get("x-user", "anonymous")}
    ticket = store.get(ticket_id)
    return templates.TemplateResponse(request, "ticket.html", {"ticket": ticket, "user": session.get("user")})
