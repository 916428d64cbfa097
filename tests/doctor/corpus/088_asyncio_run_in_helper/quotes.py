import asyncio

import httpx

quotes_api = httpx.AsyncClient(base_url="https://quotes.example.com/v1", timeout=5.0)


async def fetch_quote(symbol: str) -> float:
    resp = await quotes_api.get(f"/quotes/{symbol}")
    return float(resp.json()["price"])


def get_quote_sync(symbol: str) -> float:
    """Kept for the old sync SDK callers."""
    return asyncio.run(fetch_quote(symbol))
