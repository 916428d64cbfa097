from .pricing import price_in


def load_order(order_id: int) -> dict:
    order = {"id": order_id, "amount_eur": 120.0, "currency": "USD"}
    order["amount"] = price_in(order["amount_eur"], order["currency"])
    return order
