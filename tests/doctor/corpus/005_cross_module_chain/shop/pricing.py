from .clients.rates import fetch_rate


def price_in(amount_eur: float, currency: str) -> float:
    if currency == "EUR":
        return amount_eur
    return round(amount_eur * fetch_rate("EUR", currency), 2)
