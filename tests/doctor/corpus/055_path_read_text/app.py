"""PSE102: pathlib.Path.read_text in an async route."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

app = FastAPI()

LEGAL_DIR = "/srv/content/legal"


@app.get("/legal/{doc}", response_class=PlainTextResponse)
async def legal_doc(doc: str) -> str:
    return Path(LEGAL_DIR, f"{doc}.md").read_text(encoding="utf-8")
