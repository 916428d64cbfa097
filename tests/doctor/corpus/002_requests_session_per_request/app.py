"""PSE101 + PSE104: requests.Session created and used inside async routes."""

import requests
from fastapi import FastAPI

app = FastAPI()

CRM_URL = "https://crm.example.com/api"
CRM_TOKEN = "change-me"


@app.get("/customers/{customer_id}")
async def get_customer(customer_id: int) -> dict:
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {CRM_TOKEN}"
        resp = s.get(f"{CRM_URL}/customers/{customer_id}", timeout=5)
    resp.raise_for_status()
    return resp.json()


@app.get("/customers/{customer_id}/notes")
async def get_customer_notes(customer_id: int) -> list:
    return requests.Session().get(f"{CRM_URL}/customers/{customer_id}/notes", timeout=5).json()
