import logging

import requests
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from billing import PaymentDeclined, charge_card

SLACK_WEBHOOK = "https://hooks.slack.com/services/T000/B000/XXX"
ERROR_SINK = "https://errors.internal/ingest"

log = logging.getLogger(__name__)
app = FastAPI()


@app.exception_handler(PaymentDeclined)
async def payment_declined_handler(request: Request, exc: PaymentDeclined) -> JSONResponse:
    requests.post(SLACK_WEBHOOK, json={"text": f"declined: {exc.reason}"}, timeout=3)
    return JSONResponse(status_code=402, content={"detail": exc.reason})


def validation_error_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    requests.post(ERROR_SINK, json={"path": request.url.path, "errors": exc.errors()})
    with open("/var/log/api/validation.log", "a") as fh:
        fh.write(f"{request.url.path}: {exc.errors()}\n")
    log.info("validation error on %s", request.url.path)
    return JSONResponse(status_code=422, content={"detail": exc.errors()})


app.add_exception_handler(RequestValidationError, validation_error_handler)


@app.post("/checkout")
async def checkout(card_token: str, amount_cents: int) -> dict:
    return await charge_card(card_token, amount_cents)
