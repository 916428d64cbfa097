from fastapi import FastAPI

from payments.routes import router

app = FastAPI()
app.include_router(router)
