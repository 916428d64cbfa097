from fastapi import FastAPI

from config import TenantRegistry, feature_flags, get_settings

app = FastAPI()
registry = TenantRegistry("/etc/api/tenants.json")


@app.get("/flags")
async def flags() -> dict:
    return feature_flags()


@app.get("/settings/public")
async def public_settings() -> dict:
    settings = get_settings()
    return {"region": settings["region"]}


@app.get("/tenants")
async def tenants() -> list[str]:
    return sorted(registry.tenants)
