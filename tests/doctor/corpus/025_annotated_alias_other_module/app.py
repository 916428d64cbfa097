"""PSE101: a blocking dependency reached through an Annotated alias from another module."""

from fastapi import FastAPI

from deps import CurrentUserId

app = FastAPI()


@app.get("/me/orders")
async def my_orders(user_id: CurrentUserId) -> dict:
    return {"user_id": user_id, "orders": []}


@app.delete("/me")
async def delete_me(user_id: CurrentUserId) -> dict:
    return {"deleted": user_id}
