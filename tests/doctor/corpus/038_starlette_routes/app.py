"""PSE101: Starlette Route endpoints (default GET and methods=["POST"])."""

import requests
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

FULFILLMENT_URL = "http://fulfillment.internal/events"
CMS_URL = "http://cms.internal/pages"


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


async def product_page(request: Request) -> JSONResponse:
    slug = request.path_params["slug"]
    page = requests.get(f"{CMS_URL}/{slug}", timeout=5).json()
    return JSONResponse(page)


async def stripe_webhook(request: Request) -> JSONResponse:
    event = await request.json()
    requests.post(FULFILLMENT_URL, json=event, timeout=5)
    return JSONResponse({"received": True})


routes = [
    Route("/health", health),
    Route("/products/{slug}", product_page),
    Route("/webhooks/stripe", stripe_webhook, methods=["POST"]),
]

app = Starlette(routes=routes)
