"""The request's deadline, as code sees it: :func:`remaining`."""

from __future__ import annotations

from contextvars import ContextVar
from time import monotonic

__all__ = ["remaining"]

# The current request's deadline on time.monotonic()'s clock. That clock rather than the
# event loop's: worker threads have no loop to ask, and both clocks are CLOCK_MONOTONIC
# on asyncio and uvloop, so the two deadlines agree (uvloop's to the millisecond).
_deadline: ContextVar[float | None] = ContextVar("poise_deadline", default=None)


def remaining() -> float | None:
    """Seconds left before the current request's deadline, or ``None`` if it has none.

    Use it as the timeout of outbound calls, so they give up when the caller has:

        budget = poise.remaining()
        timeout = 10.0 if budget is None else budget
        response = await client.get(url, timeout=timeout)

    ``0.0`` once the deadline has passed (not ``None``: ``remaining() or 10.0`` would
    give a request whose budget is spent ten more seconds). It works in sync routes and
    dependencies too (the thread pool runs them in a copy of the request's context).
    Outside a request, ``None``.
    """
    deadline = _deadline.get()
    if deadline is None:
        return None
    return max(0.0, deadline - monotonic())
