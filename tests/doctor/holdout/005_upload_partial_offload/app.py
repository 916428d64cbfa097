from fastapi import FastAPI

from uploads import router

app = FastAPI()
app.include_router(router, prefix="/files")
