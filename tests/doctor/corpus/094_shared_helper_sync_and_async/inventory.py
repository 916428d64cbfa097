import redis

stock = redis.Redis(host="redis", decode_responses=True)


def reserved_quantity(sku: str) -> int:
    return int(stock.hget("reserved", sku) or 0)
