from fastapi import FastAPI

from exports.api import router

app = FastAPI()
app.include_router(router, prefix="/exports")
