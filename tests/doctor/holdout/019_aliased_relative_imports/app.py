from fastapi import FastAPI

from integrations.routes import router as integrations_router

app = FastAPI()
app.include_router(integrations_router, prefix="/integrations")
