from fastapi import FastAPI

from search.api import router as search_router

app = FastAPI()
app.include_router(search_router, prefix="/v1")
