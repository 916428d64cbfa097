"""PSE103: pandas.read_csv on the event loop."""

import io

import pandas as pd
from fastapi import FastAPI, UploadFile

app = FastAPI()


@app.post("/analytics/sales")
async def upload_sales(file: UploadFile) -> dict:
    raw = await file.read()
    df = pd.read_csv(io.BytesIO(raw))
    return {"rows": len(df), "columns": list(df.columns)}
