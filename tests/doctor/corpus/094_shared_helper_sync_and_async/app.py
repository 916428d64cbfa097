"""Context decides: the same helper is fine from a sync route, PSE101 from an async one."""

from fastapi import FastAPI

from inventory import reserved_quantity

app = FastAPI()


@app.get("/admin/reservations/{sku}")
def admin_reservations(sku: str) -> dict:
    return {"sku": sku, "reserved": reserved_quantity(sku)}


@app.get("/reservations/{sku}")
async def reservations(sku: str) -> dict:
    return {"sku": sku, "reserved": reserved_quantity(sku)}
