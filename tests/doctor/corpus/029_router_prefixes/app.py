"""PSE101: route name carries include_router prefix + APIRouter prefix + path."""

from fastapi import FastAPI

from routers import orders

app = FastAPI()
app.include_router(orders.router, prefix="/api/v1")
