from dataclasses import dataclass


class RateLimits:
    """How many connections a client may hold: a number, not a pool."""

    def __init__(self, max_connections: int = 100, max_keepalive: int = 20) -> None:
        self.max_connections = max_connections
        self.max_keepalive = max_keepalive


@dataclass
class Unused:
    max_size: int = 10
