import subprocess
import time

import requests

CATALOG_URL = "http://catalog.internal/products"


def rebuild_search_index() -> None:
    products = requests.get(CATALOG_URL, timeout=30).json()
    for product in products:
        requests.post("http://search.internal/index", json=product, timeout=5)
        time.sleep(0.05)
    subprocess.run(["search-admin", "optimize"], check=True)


if __name__ == "__main__":
    rebuild_search_index()
