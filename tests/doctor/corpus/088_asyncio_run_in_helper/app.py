"""PSE109: asyncio.run inside a helper called from an async route."""

from fastapi import FastAPI

from quotes import get_quote_sync

app = FastAPI()


@app.get("/quotes/{symbol}")
async def quote(symbol: str) -> dict:
    return {"symbol": symbol, "price": get_quote_sync(symbol)}
