class PaymentDeclined(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def charge_card(token: str, amount_cents: int) -> dict:
    if amount_cents > 100_000:
        raise PaymentDeclined("amount over limit")
    return {"status": "captured", "amount": amount_cents, "token": token[-4:]}
