"""The request's deadline, as code sees it: :func:`remaining`."""

from __future__ import annotations

from contextvars import ContextVar

import anyio

__all__ = ["remaining"]

# The current request's deadline in the event loop's clock (anyio.current_time()).
_deadline: ContextVar[float | None] = ContextVar("poise_deadline", default=None)


def remaining() -> float | None:
    """Seconds left before the current request's deadline, or ``None`` if it has none.

    Use it as the timeout of outbound calls, so they give up when the caller has:

        timeout = poise.remaining() or 10.0
        response = await client.get(url, timeout=timeout)

    ``0.0`` once the deadline has passed. Outside a request, or in a worker thread (the
    deadline lives in the request's context, which threads do not share), ``None``.
    """
    deadline = _deadline.get()
    if deadline is None:
        return None
    try:
        now = anyio.current_time()
    except Exception:  # no event loop here (a worker thread)
        return None
    return max(0.0, deadline - now)
