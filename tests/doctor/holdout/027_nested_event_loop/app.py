import asyncio

from fastapi import FastAPI

from sync_bridge import enrich_sync, legacy_totals

app = FastAPI()


@app.get("/accounts/{account_id}/enriched")
async def enriched(account_id: int) -> dict:
    return enrich_sync(account_id)


@app.get("/accounts/{account_id}/totals")
def totals(account_id: int) -> dict:
    return legacy_totals(account_id)


@app.get("/accounts/{account_id}/enriched-offloaded")
async def enriched_offloaded(account_id: int) -> dict:
    return await asyncio.to_thread(enrich_sync, account_id)
