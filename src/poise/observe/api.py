"""The admin API: ``{prefix}/api/stats`` and ``{prefix}/api/requests``.

It exposes internals (routes, timings, later stacks), so it answers only:

* when ``admin_token`` is set: requests carrying ``Authorization: Bearer <token>``
  (compared in constant time), from anywhere, loopback included;
* otherwise: clients on a loopback address whose request carries no forwarding header
  (``Forwarded``, ``X-Forwarded-For``, ``X-Real-IP``), since a reverse proxy on the same
  host makes every outside client look like 127.0.0.1.

Anything else gets ``403`` with no detail. A missing ``scope["client"]`` (a Unix
socket, where a proxy is the usual peer) is not loopback: the API fails closed.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Final
from urllib.parse import parse_qs

from poise.responses import send_json, send_problem
from poise.types import ASGIApp, Receive, Scope, Send

__all__ = ["AdminAPI", "is_loopback"]

_FORWARDING_HEADERS: Final = frozenset({b"forwarded", b"x-forwarded-for", b"x-real-ip"})
_READ_METHODS: Final = frozenset({"GET", "HEAD"})
DEFAULT_REQUESTS_LIMIT: Final = 50


@lru_cache(maxsize=256)
def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address as a server puts it in ``scope["client"]``) is loopback."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class AdminAPI:
    """The admin endpoints, as raw ASGI handlers.

    Args:
        token: the bearer token required from every client, or ``None`` for
            loopback-only access.
        stats: builds the ``/api/stats`` document.
        requests: ``(slowest, limit) -> ledgers as dicts``: the ``slowest`` slowest when
            it is given, else the ``limit`` most recent.
        ring_size: how many ledgers the recent ring holds (bounds ``slowest``/``limit``).
    """

    def __init__(
        self,
        *,
        token: str | None,
        stats: Callable[[], dict[str, Any]],
        requests: Callable[[int | None, int], list[dict[str, Any]]],
        ring_size: int,
    ) -> None:
        self._token = None if token is None else f"Bearer {token}".encode()
        self._stats = stats
        self._requests = requests
        self._ring_size = ring_size

    def endpoints(self, prefix: str) -> dict[str, ASGIApp]:
        """Exact path -> handler, for :class:`~poise.middleware.endpoints.EndpointsMiddleware`."""
        return {
            f"{prefix}/api/stats": self.stats,
            f"{prefix}/api/requests": self.requests,
        }

    def allowed(self, scope: Scope) -> bool:
        """Whether this request may read the admin API (see the module docstring)."""
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        if self._token is not None:
            given = b""
            for name, value in headers:
                if name == b"authorization":
                    given = value
                    break
            return hmac.compare_digest(given, self._token)
        client = scope.get("client")
        if not client or not is_loopback(str(client[0])):
            return False
        return not any(name in _FORWARDING_HEADERS for name, _ in headers)

    async def _guard(self, scope: Scope, send: Send) -> bool:
        head = scope.get("method") == "HEAD"
        if not self.allowed(scope):
            await send_problem(send, 403, head=head)
            return False
        if scope.get("method") not in _READ_METHODS:
            await send_problem(
                send,
                405,
                detail="the admin API is read-only: use GET",
                headers=[(b"allow", b"GET, HEAD")],
            )
            return False
        return True

    async def stats(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``GET {prefix}/api/stats``: the stats document of DESIGN.md."""
        if await self._guard(scope, send):
            await send_json(send, 200, self._stats(), head=scope["method"] == "HEAD")

    async def requests(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``GET {prefix}/api/requests[?slowest=N | ?limit=N]``: recent request ledgers."""
        if not await self._guard(scope, send):
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        unknown = sorted(set(query) - {"slowest", "limit"})
        if unknown:
            await send_problem(
                send, 400, detail=f"unknown query parameter {unknown[0]!r}: use slowest or limit"
            )
            return
        try:
            slowest = self._count(query, "slowest")
            limit = self._count(query, "limit")
        except ValueError as exc:
            await send_problem(send, 400, detail=str(exc))
            return
        if slowest is not None and limit is not None:
            await send_problem(send, 400, detail="give slowest or limit, not both")
            return
        items = self._requests(slowest, DEFAULT_REQUESTS_LIMIT if limit is None else limit)
        body = {"requests": items, "capacity": self._ring_size}
        await send_json(send, 200, body, head=scope["method"] == "HEAD")

    def _count(self, query: dict[str, list[str]], name: str) -> int | None:
        values = query.get(name)
        if values is None:
            return None
        accepted = f"{name} must be one whole number from 1 to {self._ring_size}"
        if len(values) != 1 or not values[0].isascii() or not values[0].isdigit():
            raise ValueError(accepted)
        value = int(values[0])
        if not 1 <= value <= self._ring_size:
            raise ValueError(accepted)
        return value
