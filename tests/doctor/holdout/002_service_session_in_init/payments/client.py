from decimal import Decimal

import requests


class PaymentsClient:
    """Thin wrapper around the PSP's REST API."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()
        self.http.headers.update({"Authorization": f"Bearer {api_key}"})

    def charge(self, customer_id: str, amount: Decimal) -> dict:
        resp = self.http.post(
            f"{self.base_url}/charges",
            json={"customer": customer_id, "amount": str(amount)},
            timeout=10,
        )
        resp.raise_for_status()
        return resp.json()

    def refund(self, payment_id: str) -> dict:
        resp = self.http.post(f"{self.base_url}/payments/{payment_id}/refunds")
        resp.raise_for_status()
        return resp.json()
