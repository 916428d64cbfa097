"""PSE102: .read() on a parameter annotated typing.TextIO, from an async route."""

import io

from fastapi import FastAPI, UploadFile

from parsing import parse_contacts

app = FastAPI()


@app.post("/contacts/import")
async def import_contacts(file: UploadFile) -> dict:
    stream = io.TextIOWrapper(file.file, encoding="utf-8")
    contacts = parse_contacts(stream)
    return {"imported": len(contacts)}
