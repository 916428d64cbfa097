from fastapi import FastAPI

from routers import api_router

app = FastAPI(title="orders-service")
app.include_router(api_router, prefix="/api")
