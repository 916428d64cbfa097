import requests

from ..settings import RATES_URL


def fetch_rate(base: str, quote: str) -> float:
    resp = requests.get(RATES_URL, params={"base": base, "symbols": quote}, timeout=5)
    resp.raise_for_status()
    return float(resp.json()["rates"][quote])
