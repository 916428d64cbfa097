from fastapi import Depends, FastAPI

from deps import tenant_from_header, verify_api_key
from routers import admin, public

app = FastAPI(dependencies=[Depends(tenant_from_header)])
app.include_router(public.router)
app.include_router(admin.router, prefix="/admin", dependencies=[Depends(verify_api_key)])


@app.get("/healthz", dependencies=[])
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
