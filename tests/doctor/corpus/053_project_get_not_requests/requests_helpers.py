"""Thin async helpers around the shared catalog client (not the `requests` library)."""

import httpx

_client = httpx.AsyncClient(base_url="http://catalog.internal", timeout=5.0)


async def get(path: str, **params: str) -> dict:
    resp = await _client.get(path, params=params)
    resp.raise_for_status()
    return resp.json()
