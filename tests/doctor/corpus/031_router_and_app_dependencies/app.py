"""PSE101: blocking dependencies declared on the app, a router and an include_router call."""

from fastapi import Depends, FastAPI

import admin
import reports
from deps import require_admin, verify_api_key

app = FastAPI(dependencies=[Depends(verify_api_key)])
app.include_router(admin.router)
app.include_router(reports.router, prefix="/reports", dependencies=[Depends(require_admin)])


@app.get("/ping")
async def ping() -> dict:
    return {"ok": True}
