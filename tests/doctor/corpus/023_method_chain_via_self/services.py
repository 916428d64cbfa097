import requests
from pydantic import BaseModel


class CartLine(BaseModel):
    sku: str
    qty: int


class Cart(BaseModel):
    lines: list[CartLine]


class InventoryGateway:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def reserve(self, sku: str, qty: int) -> bool:
        payload = {"sku": sku, "qty": qty}
        resp = requests.post(f"{self.base_url}/reservations", json=payload, timeout=5)
        return resp.status_code == 201


class CheckoutService:
    def __init__(self) -> None:
        self.inventory = InventoryGateway("http://inventory.internal")

    def checkout(self, cart: Cart) -> dict:
        missing = [line.sku for line in cart.lines if not self._reserve_line(line)]
        return {"ok": not missing, "missing": missing}

    def _reserve_line(self, line: CartLine) -> bool:
        return self.inventory.reserve(line.sku, line.qty)
