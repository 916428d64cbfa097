"""Negative: blocking work offloaded with run_in_threadpool."""

import requests
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from starlette import concurrency

app = FastAPI()

INVOICE_URL = "http://billing.internal/invoices"


def fetch_invoice_pdf(invoice_id: str) -> bytes:
    resp = requests.get(f"{INVOICE_URL}/{invoice_id}.pdf", timeout=10)
    resp.raise_for_status()
    return resp.content


def void_invoice(invoice_id: str) -> None:
    requests.post(f"{INVOICE_URL}/{invoice_id}/void", timeout=10)


@app.get("/invoices/{invoice_id}/pdf")
async def invoice_pdf(invoice_id: str) -> Response:
    pdf = await run_in_threadpool(fetch_invoice_pdf, invoice_id)
    return Response(pdf, media_type="application/pdf")


@app.post("/invoices/{invoice_id}/void")
async def void(invoice_id: str) -> dict:
    await concurrency.run_in_threadpool(void_invoice, invoice_id)
    return {"voided": invoice_id}
