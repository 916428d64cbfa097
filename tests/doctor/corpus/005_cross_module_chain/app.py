"""PSE101: a blocking call three project calls deep, across modules, relative imports."""

from fastapi import FastAPI

from shop.orders import load_order

app = FastAPI()


@app.get("/orders/{order_id}")
async def read_order(order_id: int) -> dict:
    return load_order(order_id)
