"""PSE101/PSE102: full paths through nested routers with prefixes at every level."""

from fastapi import FastAPI

from api import v1

app = FastAPI()
app.include_router(v1.router, prefix="/api")
