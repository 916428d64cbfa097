"""The admin API: ``{prefix}/api/stats`` and ``{prefix}/api/requests``.

It exposes internals (routes, timings, stacks, health checks' errors), so it answers
only (the one rule of every admin surface: these endpoints and the detailed
``/healthz``):

* a request carrying ``Authorization: Bearer <admin_token>`` (the scheme in any case,
  as RFC 9110 allows; the token compared in constant time), on any port, from anywhere;
* without the token, a request that came in through the **admin port**
  (:mod:`poise.observe.admin_port`, a listener of its own bound to loopback) from a
  loopback address (``127.0.0.0/8``, ``::1``, ``::ffff:127.x.y.z``) and carrying no
  forwarding header.

On the app's own port the peer address is never evidence: a proxy on the same host
connects from 127.0.0.1 and may add no header (nginx's default ``proxy_pass``, HAProxy
or stunnel in TCP mode, socat, a mesh sidecar), and the ``Host`` header is whatever the
proxy sends. Anything else gets ``403`` with a detail that says how to get access and
nothing else. A missing ``scope["client"]`` (a Unix socket) is not loopback.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Final
from urllib.parse import parse_qs

from poise.observe.admin_port import ADMIN_PORT_SCOPE_KEY
from poise.responses import send_json, send_problem
from poise.types import ASGIApp, Receive, Scope, Send

__all__ = ["FORBIDDEN_DETAIL", "AdminAPI", "is_loopback"]

# Headers a proxy or CDN uses to pass the original client on: a request through the admin
# port carrying any of them came through a proxy someone pointed at it.
_FORWARDING_HEADERS: Final = frozenset({
    b"forwarded", b"x-forwarded-for", b"x-real-ip", b"true-client-ip", b"cf-connecting-ip",
    b"x-client-ip", b"x-cluster-client-ip", b"fastly-client-ip", b"x-original-forwarded-for",
})  # fmt: skip
#: The 403 detail: how to get access, nothing about what is there.
FORBIDDEN_DETAIL: Final = (
    "admin data needs 'Authorization: Bearer <token>' (POISE_ADMIN_TOKEN), or a request "
    "from this host to the admin port (POISE_ADMIN_PORT)"
)
_READ_METHODS: Final = frozenset({"GET", "HEAD"})
DEFAULT_REQUESTS_LIMIT: Final = 50


@lru_cache(maxsize=256)
def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address as a server puts it in ``scope["client"]``) is loopback."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback  # a dual-stack socket's IPv4 client
    return address.is_loopback


def _bearer(value: bytes) -> bytes | None:
    """The credentials of an ``Authorization: Bearer <token>`` value (any case of the
    scheme, as RFC 9110 allows), or ``None``."""
    scheme, _, credentials = value.strip().partition(b" ")
    if scheme.lower() != b"bearer":
        return None
    return credentials.strip()


class AdminAPI:
    """The admin endpoints, as raw ASGI handlers.

    Args:
        token: the bearer token that opens the API on any port, or ``None``: then only
            loopback clients of the admin port read it.
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
        self._token = None if token is None else token.encode()
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
        """Whether this request may read admin data (see the module docstring)."""
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        token = self._token
        if token is not None:
            for name, value in headers:
                if name == b"authorization":
                    given = _bearer(value)
                    # Constant time over the token's bytes, whatever was sent.
                    if given is not None and hmac.compare_digest(given, token):
                        return True
                    break
        if scope.get(ADMIN_PORT_SCOPE_KEY) is not True:
            return False
        client = scope.get("client")
        if not client or not is_loopback(str(client[0])):
            return False
        return not any(name in _FORWARDING_HEADERS for name, _ in headers)

    async def _guard(self, scope: Scope, send: Send) -> bool:
        head = scope.get("method") == "HEAD"
        if not self.allowed(scope):
            await send_problem(send, 403, detail=FORBIDDEN_DETAIL, head=head)
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
        # ASCII digits, and few of them: int() of thousands of digits fails with
        # Python's own limit text, which is no answer to give a client.
        if (
            len(values) != 1
            or not values[0].isascii()
            or not values[0].isdigit()
            or len(values[0]) > 9
        ):
            raise ValueError(accepted)
        value = int(values[0])
        if not 1 <= value <= self._ring_size:
            raise ValueError(accepted)
        return value
