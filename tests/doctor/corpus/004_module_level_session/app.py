"""PSE101: module-level requests.Session used inside an async route."""

import requests
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()

SEARCH_URL = "http://search.internal/index"

session = requests.Session()
session.headers.update({"Authorization": "Bearer service-token"})


class Document(BaseModel):
    id: str
    title: str
    body: str


@app.post("/documents")
async def index_document(doc: Document) -> dict:
    resp = session.post(SEARCH_URL, json=doc.model_dump(), timeout=5)
    return {"indexed": resp.ok}
