"""PSE101: methods called through self and through an instance attribute of a project class."""

from fastapi import FastAPI

from services import Cart, CheckoutService

app = FastAPI()

checkout_service = CheckoutService()


@app.post("/checkout")
async def checkout(cart: Cart) -> dict:
    return checkout_service.checkout(cart)
