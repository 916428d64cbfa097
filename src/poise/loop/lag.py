"""One loop-lag meter for every part of poise that asks how late the loop is.

Loop lag is the lateness of a heartbeat: a callback scheduled every ``interval`` seconds
runs that much after it was due, because the loop was busy or blocked meanwhile. The
loop monitor's heartbeat feeds the meter when the monitor runs (every 100 ms); without
it, the health ticker does (every 250 ms). Readiness, the admission limiter and the
stats all read this one meter, so they cannot disagree about how late the loop was.

All times are ``time.perf_counter()`` seconds. Written and read on the loop thread;
the probe port's thread reads only :attr:`last_beat` (a plain float).
"""

from __future__ import annotations

import math
from collections import deque
from time import perf_counter
from typing import Final

__all__ = ["HISTORY", "LagMeter", "quantile"]

#: Seconds of heartbeats kept: the longest window anyone asks about (the stats' minute).
HISTORY: Final = 60.0


class LagMeter:
    """Heartbeat lateness over the last :data:`HISTORY` seconds.

    Args:
        interval: seconds between the heartbeats that feed it (sizes the history, and
            says when the next one is overdue).
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last_beat = 0.0
        self._samples: deque[tuple[float, float]] = deque(maxlen=int(HISTORY / interval) + 8)

    def beat(self, at: float, lateness: float) -> None:
        """A heartbeat ran at ``at``, ``lateness`` seconds after it was due."""
        self.last_beat = at
        self._samples.append((at, lateness))

    def reset(self) -> None:
        self.last_beat = 0.0
        self._samples.clear()

    def window(self, seconds: float, now: float | None = None) -> list[float]:
        """The lateness of every heartbeat of the last ``seconds``, oldest first."""
        horizon = (perf_counter() if now is None else now) - seconds
        out = [lateness for at, lateness in reversed(self._samples) if at >= horizon]
        out.reverse()
        return out

    def worst_since(self, since: float, now: float | None = None) -> float:
        """The worst lateness since ``since``, counting the heartbeat overdue right now
        (a saturated or blocked loop has not run it yet)."""
        worst = 0.0
        for at, lateness in reversed(self._samples):
            if at < since:
                break
            worst = max(worst, lateness)
        if self.last_beat:
            now = perf_counter() if now is None else now
            worst = max(worst, now - self.last_beat - self.interval)
        return worst


def quantile(ordered: list[float], q: float) -> float | None:
    """The ``q`` quantile of sorted values (nearest rank), ``None`` when empty."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1 if q else 0)]
