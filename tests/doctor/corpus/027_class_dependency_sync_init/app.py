"""PSE108 (not PSE101): a class dependency whose sync __init__ blocks runs in the thread pool."""

from typing import Annotated

import redis
from fastapi import Depends, FastAPI, Header

app = FastAPI()

flag_store = redis.Redis(host="redis", decode_responses=True)


class FeatureFlags:
    def __init__(self, x_tenant: Annotated[str, Header()] = "public") -> None:
        self.tenant = x_tenant
        self.flags = flag_store.hgetall(f"flags:{x_tenant}")

    def enabled(self, name: str) -> bool:
        return self.flags.get(name) == "on"


@app.get("/dashboard")
async def dashboard(flags: FeatureFlags = Depends(FeatureFlags)) -> dict:
    return {"tenant": flags.tenant, "beta": flags.enabled("beta-dashboard")}


@app.get("/settings")
async def settings(flags: Annotated[FeatureFlags, Depends()]) -> dict:
    return {"tenant": flags.tenant, "flags": flags.flags}
