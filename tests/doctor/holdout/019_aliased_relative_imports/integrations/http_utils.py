from time import sleep as pause

import requests as rq


def get_json(url: str, *, retries: int = 2) -> dict:
    for attempt in range(retries + 1):
        resp = rq.get(url, timeout=None)
        if resp.status_code < 500:
            return resp.json()
        pause(0.2 * attempt)
    resp.raise_for_status()
    return {}
