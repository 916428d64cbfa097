import functools
import logging
import time

import requests

logger = logging.getLogger(__name__)

PROFILE_URL = "http://profiles.internal/users"


def timed(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            logger.info("%s took %.3fs", fn.__name__, time.perf_counter() - start)

    return wrapper


@timed
def fetch_profile(user_id: int) -> dict:
    resp = requests.get(f"{PROFILE_URL}/{user_id}", timeout=5)
    resp.raise_for_status()
    return resp.json()
