"""poise's own failures: counted, logged once per component, never fatal to a request.

DESIGN principle 2: poise never makes a request fail that would have succeeded. When
one of its parts raises on the request path, the request goes on; the error is counted
here (shown in ``/_poise/api/stats`` as ``internal_errors``) and logged with its
traceback the first time each component fails.
"""

from __future__ import annotations

import logging
from collections import Counter

__all__ = ["InternalErrors"]

logger = logging.getLogger("poise")


class InternalErrors:
    """Counts of poise's own exceptions, by component."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def report(self, component: str, exc: BaseException) -> None:
        """Count ``exc`` against ``component``; log it with its traceback the first time."""
        self._counts[component] += 1
        if self._counts[component] == 1:
            logger.error(
                "poise: internal error in %s (the request was not affected; "
                "further errors here are counted in /_poise/api/stats, not logged)",
                component,
                exc_info=exc,
            )

    def snapshot(self) -> dict[str, int]:
        """``component -> count`` of every component that has failed."""
        return dict(self._counts)
