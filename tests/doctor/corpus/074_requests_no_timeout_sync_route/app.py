"""PSE105 + PSE108: requests without a timeout in sync routes."""

import requests
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()

RATES_URL = "https://rates.example.com/latest"
CRM_URL = "https://crm.example.com/api/leads"

crm = requests.Session()


class Lead(BaseModel):
    email: str
    source: str


@app.get("/exchange-rates")
def exchange_rates(base: str = "EUR") -> dict:
    resp = requests.get(RATES_URL, params={"base": base})
    resp.raise_for_status()
    return resp.json()


@app.post("/leads")
def create_lead(lead: Lead) -> dict:
    resp = crm.post(CRM_URL, json=lead.model_dump())
    return {"crm_status": resp.status_code}
