"""Small raw-ASGI responses poise answers with itself (JSON and problem+json).

They are written against ``send`` directly rather than through Starlette's
``Response`` classes: poise answers before the app, often on the hot path (a shed
request must cost microseconds), and needs nothing but a status, headers and a body.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from poise.types import Send

__all__ = ["send_json", "send_problem"]


async def send_json(
    send: Send,
    status: int,
    payload: Any,
    *,
    content_type: bytes = b"application/json",
    headers: Iterable[tuple[bytes, bytes]] = (),
    head: bool = False,
) -> None:
    """Send ``payload`` as a complete JSON response (no caching: it is live state).

    Args:
        head: answer a HEAD request: the headers of the response, without its body.
    """
    body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else body})


async def send_problem(
    send: Send,
    status: int,
    *,
    detail: str | None = None,
    headers: Iterable[tuple[bytes, bytes]] = (),
    head: bool = False,
) -> None:
    """Send an RFC 9457 ``application/problem+json`` error response.

    ``detail`` is omitted when ``None``.
    """
    problem: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
    }
    if detail is not None:
        problem["detail"] = detail
    await send_json(
        send,
        status,
        problem,
        content_type=b"application/problem+json",
        headers=headers,
        head=head,
    )
