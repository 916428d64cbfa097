import requests

QUOTES_URL = "https://quotes.example.com/v2"


def latest_quote(symbol: str) -> dict:
    resp = requests.get(f"{QUOTES_URL}/last", params={"symbol": symbol}, timeout=2)
    resp.raise_for_status()
    return resp.json()


def fetch_order_book(symbol: str, depth: int = 10) -> dict:
    resp = requests.get(f"{QUOTES_URL}/book", params={"symbol": symbol, "depth": depth}, timeout=2)
    resp.raise_for_status()
    return resp.json()
