"""Routers included in a loop over a literal tuple keep the app's prefix."""

from fastapi import FastAPI

from routers import orders, users

app = FastAPI()

for router in (users.router, orders.router):
    app.include_router(router, prefix="/api")
