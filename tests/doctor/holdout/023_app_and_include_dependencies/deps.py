from typing import Annotated

import requests
from fastapi import Header, HTTPException

AUTH_URL = "https://auth.internal/v1/keys/verify"


def tenant_from_header(x_tenant: Annotated[str, Header()] = "public") -> str:
    return x_tenant.lower()


def _lookup_key(key: str) -> bool:
    resp = requests.get(AUTH_URL, params={"key": key}, timeout=2)
    return resp.status_code == 200


async def verify_api_key(x_api_key: Annotated[str, Header()]) -> None:
    if not _lookup_key(x_api_key):
        raise HTTPException(status_code=403, detail="invalid api key")
