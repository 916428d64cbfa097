import asyncio

import nest_asyncio


async def _fetch_profile(account_id: int) -> dict:
    await asyncio.sleep(0.01)
    return {"id": account_id, "tier": "gold"}


async def _fetch_balances(account_id: int) -> list[int]:
    await asyncio.sleep(0.01)
    return [100, 250]


def enrich_sync(account_id: int) -> dict:
    """Written for the CLI; reused by the API."""
    return asyncio.run(_fetch_profile(account_id))


def legacy_totals(account_id: int) -> dict:
    nest_asyncio.apply()
    loop = asyncio.new_event_loop()
    try:
        balances = loop.run_until_complete(_fetch_balances(account_id))
    finally:
        loop.close()
    return {"total": sum(balances)}
