"""PSE101/PSE102: exception handlers that block."""

from datetime import UTC, datetime

import requests
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()

SLACK_WEBHOOK = "https://hooks.slack.com/services/T000/B000/XXXX"
PAYMENT_LOG = "/var/log/app/payment-errors.log"


class PaymentError(Exception):
    def __init__(self, order_id: int, reason: str) -> None:
        super().__init__(reason)
        self.order_id = order_id
        self.reason = reason


@app.exception_handler(Exception)
async def report_unhandled(request: Request, exc: Exception) -> JSONResponse:
    text = f"500 on {request.method} {request.url.path}: {exc!r}"
    requests.post(SLACK_WEBHOOK, json={"text": text}, timeout=3)
    return JSONResponse({"detail": "internal error"}, status_code=500)


async def payment_error_handler(request: Request, exc: PaymentError) -> JSONResponse:
    with open(PAYMENT_LOG, "a") as log:
        log.write(f"{datetime.now(UTC).isoformat()} order={exc.order_id} {exc.reason}\n")
    return JSONResponse({"detail": exc.reason}, status_code=402)


app.add_exception_handler(PaymentError, payment_error_handler)


@app.post("/orders/{order_id}/pay")
async def pay(order_id: int) -> dict:
    raise PaymentError(order_id, "card declined")
