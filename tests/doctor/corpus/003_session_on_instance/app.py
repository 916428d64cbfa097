"""PSE101: a session stored on an instance, used through a method from an async route."""

from fastapi import FastAPI

from clients import billing

app = FastAPI()


@app.get("/invoices/{invoice_id}")
async def get_invoice(invoice_id: str) -> dict:
    return billing.invoice(invoice_id)
