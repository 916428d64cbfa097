"""The adaptive concurrency limit: a latency gradient, learned from live traffic,
with the event loop's own lag as the congestion signal.

Every window (at least ``WINDOW`` long and ``MIN_SAMPLES`` requests) the window's p90
latency (short-term) is compared with a long-term baseline, as in Gradient2 (Netflix
concurrency-limits): while latency holds, the limit grows by about its square root
(smoothed); when it rises, the gradient ``baseline / latest`` scales it down.

Latency alone cannot tell *why* it rose. In an async worker there are two reasons:
the app has more work than its one event loop can run (more concurrency only makes it
worse), or a dependency slowed down (the same throughput now needs more concurrency,
Little's law). The event loop's own state tells them apart: a congested loop thread is
busy nearly all the time (its CPU time over the window, ``CONGESTED_CPU``) or late (the
loop monitor's heartbeat lag, ``CONGESTED_LAG``); a slow dependency leaves it idle and
on time. So:

- loop congested: the limit shrinks by ``BACKOFF`` per window, and the baseline stays
  where it is. While the loop is merely busy (not saturated), not below what the
  window's throughput needs at the baseline latency (Little's law, with
  ``FLOOR_HEADROOM``): fewer would cut work the loop can still do. Once it is
  saturated, straight down to that (at most halving per window), then on by
  ``BACKOFF`` while the saturation lasts;
- latency up but the loop on time: the baseline follows the new latency within a few
  windows (no shrinking), and the limit grows as the longer requests need it;
- latency holding: the limit grows by ``SMOOTHING * sqrt(limit)`` per window.

A deadline expiry backs off too (once per window). The limit only grows while at least
half of it is in use, so a lightly loaded app does not drift upward. Without the loop
monitor, the loop thread's CPU share alone tells congestion.

The loop's CPU also caps the limit. While its thread is more than half busy, the
window's CPU cost per request (busy share / throughput) says how many requests a second
the loop could complete at all, and Little's law turns that into a concurrency at the
baseline latency; the limit stays within ``CPU_HEADROOM`` of it. Without the cap, a
CPU-heavy app kept the headroom it learned at low load (twice its peak), so the first
windows of a surge admitted twice the work its loop could run, and everything waited
hundreds of milliseconds until the backoff caught up.

The initial limit is learned, not guessed: for the first ``WARMUP_WINDOWS`` windows of
traffic everything is admitted (up to the maximum) while latency and concurrency are
measured; the limit then starts at twice the peak concurrency seen. A cold process
hit by a burst the app can absorb does not shed it; the price is that an app
overloaded from its very first request is unprotected for those few hundred ms.

The no-load latency is never probed by pinning concurrency (as Vegas does).

Written here rather than taken from a library: no maintained Python package offers
server-side adaptive concurrency, and this runs on the request path, where a sort of a
small window every 100 ms is all it may cost.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Final

__all__ = ["GradientLimiter"]

WINDOW: Final = 0.1
MIN_SAMPLES: Final = 10
# Short-term latency is this percentile of the window's samples.
PERCENTILE: Final = 0.9
# Latency may rise this much over the long-term value before the limit shrinks.
TOLERANCE: Final = 1.5
SMOOTHING: Final = 0.2
WARMUP_WINDOWS: Final = 5
BACKOFF: Final = 0.9
# Heartbeat lateness above this, or the loop thread's CPU busy for more than this
# share of the window, means the event loop itself is the bottleneck.
CONGESTED_LAG: Final = 0.025
CONGESTED_CPU: Final = 0.9
# The congested limit keeps this much more than throughput x baseline latency, unless
# the loop is saturated (busy above SATURATED_CPU, or lagging twice CONGESTED_LAG):
# then even the work it does now is too much (shedding costs CPU too).
FLOOR_HEADROOM: Final = 1.1
SATURATED_CPU: Final = 0.97
# The most a saturated window may cut the limit by (to throughput x baseline latency).
SATURATED_BACKOFF: Final = 0.5
# While the loop thread is busier than CPU_CAP_BUSY, the limit is at most CPU_HEADROOM
# times the concurrency its CPU can serve at the baseline latency.
CPU_CAP_BUSY: Final = 0.5
CPU_HEADROOM: Final = 1.25
# How fast the baseline follows a latency rise the loop is not causing.
FOLLOW: Final = 0.3
# Samples kept per window at most (every n-th beyond): bounds the sort.
MAX_SAMPLES: Final = 512


class GradientLimiter:
    """The concurrency limit. Not thread-safe: used from the event loop only.

    Args:
        min_limit: the floor of the limit.
        max_limit: its ceiling.
    """

    def __init__(
        self,
        *,
        min_limit: int,
        max_limit: int,
        loop_lag: Callable[[float], float] | None = None,
    ) -> None:
        self.loop_lag = loop_lag
        self.congested = False
        self.busy = 0.0
        self._cpu_start = 0.0
        self.min_limit = min_limit
        self.max_limit = max_limit
        self.limit = float(max_limit)
        self.short: float | None = None  # last window's p90 latency, seconds
        self.long: float | None = None  # the long-term average of it
        self.warming = True
        self._peak = 0
        self._windows = 0
        self._samples: list[float] = []
        self._seen = 0
        self._window_start: float | None = None
        self._max_in_flight = 0
        self._dropped = False

    @property
    def capacity(self) -> int:
        """The limit as a whole number of requests."""
        return int(self.limit)

    def sample(self, latency: float, in_flight: int, now: float) -> None:
        """Record one finished request's latency (seconds) with ``in_flight`` at its end."""
        if self._window_start is None:
            self._window_start = now
            self._cpu_start = time.thread_time()
        self._seen += 1
        if len(self._samples) < MAX_SAMPLES:
            self._samples.append(latency)
        elif self._seen % 4 == 0:
            self._samples[self._seen % MAX_SAMPLES] = latency
        if in_flight > self._max_in_flight:
            self._max_in_flight = in_flight
        if now - self._window_start >= WINDOW and len(self._samples) >= MIN_SAMPLES:
            # The loop thread's busy share: this runs on the loop thread.
            cpu = time.thread_time()
            elapsed = now - self._window_start
            busy = (cpu - self._cpu_start) / elapsed
            rate = self._seen / elapsed
            lag = self.loop_lag
            self._update(None if lag is None else lag(self._window_start), busy, rate)
            self._window_start = now
            self._cpu_start = cpu

    def observe_in_flight(self, in_flight: int) -> None:
        """Note the concurrency reached (on admission), for the utilisation check."""
        if in_flight > self._max_in_flight:
            self._max_in_flight = in_flight

    def drop(self) -> None:
        """A deadline expired: back off (once per window)."""
        if not self._dropped and not self.warming:
            self._dropped = True
            self.limit = max(float(self.min_limit), self.limit * BACKOFF)

    def _update(self, lag: float | None, busy: float = 0.0, rate: float = 0.0) -> None:
        samples = sorted(self._samples)
        short = samples[min(len(samples) - 1, int(len(samples) * PERCENTILE))]
        used = self._max_in_flight
        dropped = self._dropped
        self._samples.clear()
        self._seen = 0
        self._max_in_flight = 0
        self._dropped = False
        self._windows += 1
        self.short = short
        self.busy = busy
        self.congested = congested = busy > CONGESTED_CPU or (
            lag is not None and lag > CONGESTED_LAG
        )
        long = self.long
        if long is None or self._windows <= WARMUP_WINDOWS:
            # The first windows: a plain mean, so one odd window does not set the base.
            n = self._windows
            long = short if long is None else long + (short - long) / n
        elif short < long:
            long += (short - long) * FOLLOW  # faster: latency recovered
        elif not congested:
            long += (short - long) * FOLLOW  # a slower dependency, not our loop
        self.long = long
        if self.warming:
            self._peak = max(self._peak, used)
            if self._windows >= WARMUP_WINDOWS:
                self.warming = False
                self._set(2.0 * self._peak)
            return
        if dropped:
            return
        self._adjust(congested, lag, busy, rate, short, long, used)
        if busy > CPU_CAP_BUSY and rate > 0:
            # The loop's CPU caps what any limit can buy: at this window's CPU cost per
            # request (busy / rate) it completes at most rate / busy requests a second,
            # which at the baseline latency is this much concurrency (Little's law).
            # More admitted than that (with some headroom) only queues on the loop, and
            # a surge then overloads it twice over before the backoff catches up.
            self._set(min(self.limit, CPU_HEADROOM * long * rate / busy))

    def _adjust(self, congested: bool, lag: float | None, busy: float, rate: float,
                short: float, long: float, used: int) -> None:  # fmt: skip
        limit = self.limit
        if congested:
            # Little's law: the concurrency this window's throughput needs at the
            # baseline latency.
            needed = rate * long
            saturated = busy > SATURATED_CPU or (lag is not None and lag > 2 * CONGESTED_LAG)
            if saturated:
                # More work admitted than the loop can run (shedding costs CPU too): fall
                # to what it does run, at most halving per window, rather than 10 % per
                # window while the backlog grows (windows are slow in saturation).
                self._set(max(limit * SATURATED_BACKOFF, min(limit * BACKOFF, needed)))
            else:
                self._set(max(limit * BACKOFF, min(limit, needed * FLOOR_HEADROOM)))
            return
        if used < limit / 2:
            return  # app-limited: the limit is not what holds latency, so learn nothing
        gradient = max(0.5, min(1.0, TOLERANCE * long / short)) if short > 0 else 1.0
        target = limit * gradient + math.sqrt(limit)
        self._set(limit * (1 - SMOOTHING) + target * SMOOTHING)

    def _set(self, limit: float) -> None:
        self.limit = max(float(self.min_limit), min(float(self.max_limit), limit))
