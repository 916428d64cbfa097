"""The adaptive concurrency limit: a latency gradient, learned from live traffic,
with the event loop's own state as the congestion signal.

Every window (at least ``WINDOW`` long and ``MIN_SAMPLES`` requests) the window's p90
latency of *served* requests (short-term) is compared with a long-term baseline, as in
Gradient2 (Netflix concurrency-limits): while latency holds, the limit grows by about
its square root (smoothed); when it rises, the gradient ``baseline / latest`` scales it
down. Shed requests never feed it: they are not served work.

Latency alone cannot tell *why* it rose. In an async worker there are two reasons:
the app has more work than its one event loop can run (more concurrency only makes it
worse), or a dependency slowed down (the same throughput now needs more concurrency,
Little's law). The event loop's own state tells them apart: a congested loop thread is
busy nearly all the time (its CPU time over the window, ``CONGESTED_CPU``) or late (the
lag meter, ``CONGESTED_LAG``); a slow dependency leaves it idle and on time. So:

- loop congested: the loop serves at most ``rate / busy`` requests a second (this
  window's CPU cost per request), which at the baseline latency is a concurrency
  (Little's law): the limit moves to ``CPU_HEADROOM`` times that (halfway per window,
  at most halving), and the baseline stays where it is. It does not go lower: below
  that the loop would idle while requests wait outside it, serving less than the bare
  app would (a closed-loop crowd held in admission's queue then gets less done); and
  it goes up to it from below, so where it settles does not depend on the past;
- latency up but the loop on time: the baseline follows the new latency within a few
  windows (no shrinking), and the limit grows as the longer requests need it;
- latency holding: the limit grows by ``SMOOTHING * sqrt(limit)`` per window.

**Signals from served work.** A window in which admission shed more requests than it
served (``refusing``) spends the loop on answering 503s; that work is not what the
limit admits, so its busy share alone does not count as congestion then (the lag still
does). Without it, clients that re-send at once kept the loop busy with refusals, the
limit read that as congestion, fell to its floor and stayed there. Nor does the
latency of such a window raise the baseline.

**While admission sheds** an open-loop overload (``shedding``) and refuses more than it
serves, the refusals are not re-sends, so the busy share counts, refusals included:
the limit steers the loop's thread to ``SHED_BUSY`` busy on average (see
:meth:`start_shedding` and ``_update``).

A deadline expiry backs off too (once per window). The limit only grows while at least
half of it is in use, so a lightly loaded app does not drift upward; but a request that
finds the limit reached while nothing says the app is congested (the last window's
latency within ``TOLERANCE`` of the baseline, the loop's thread neither busy nor late
right now: :meth:`GradientLimiter.clear`) raises it on the spot (at most doubling per
window): requests held by something that does not load the loop do not keep others
out, and light load never waits.

The loop's CPU also caps the limit. While its thread is more than half busy, the same
Little's-law concurrency (``CPU_HEADROOM`` times it) is the most the limit may be.
Without the cap, a CPU-heavy app kept the headroom it learned at low load (twice its
peak), so the first windows of a surge admitted twice the work its loop could run, and
everything waited hundreds of milliseconds until the backoff caught up.

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
# The most one congested window may cut the limit by, and how far it moves towards
# the congested loop's target per window.
CONGESTED_BACKOFF: Final = 0.5
CONGESTED_FOLLOW: Final = 0.5
# While the loop thread is busier than CPU_CAP_BUSY, the limit is at most CPU_HEADROOM
# times the concurrency its CPU can serve at the baseline latency; when congested, it
# goes down to that.
CPU_CAP_BUSY: Final = 0.5
CPU_HEADROOM: Final = 1.25
# "Clear" (grow on demand): the loop thread's busy share since the window began stays
# under this (judged once the window is CLEAR_MIN_ELAPSED old; before, the last window's).
CLEAR_BUSY: Final = 0.8
CLEAR_MIN_ELAPSED: Final = 0.02
# A window open this long without enough samples is closed by the tick: its busy share
# and lag still say whether the loop is congested (no latency is learned from it).
STALE_WINDOW: Final = 1.0
# A limit more than UNUSED_HEADROOM times the window's peak use decays towards that,
# by UNUSED_DECAY per window at most (the load fell).
UNUSED_HEADROOM: Final = 2.0
UNUSED_DECAY: Final = 0.8
# While admission sheds an open-loop overload, the limit steers the loop thread's busy
# share to SHED_BUSY on average (refusals included): the rest is what the loop needs to
# read and refuse the excess promptly. The limit moves by SHED_GAIN x the difference
# per window (a saturated loop: -10 % a window; one 85 % busy: +20 %). See _update.
SHED_BUSY: Final = 0.95
SHED_GAIN: Final = 2.0
# How fast the baseline follows a latency rise the loop is not causing.
FOLLOW: Final = 0.3
# A rise seen while the loop is busier than CPU_CAP_BUSY (but not congested) is followed
# only once it has lasted more than this many windows in a row: a crowd arriving on a
# loop that idled a moment before is not hot yet, and its first windows' queueing is
# the loop's own, not a slower dependency's.
RISE_WINDOWS: Final = 5
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
        self.rate = 0.0
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
        self._sheds = 0
        self._window_start: float | None = None
        self._window_limit = self.limit
        self._max_in_flight = 0
        self._dropped = False
        self._hot = False
        self._rising = 0  # windows in a row of a rise the baseline has not followed
        # Set by admission while it sheds an open-loop overload (modes shed and probe).
        self.shedding = False
        # While shedding: the whole number of requests admitted in this window, and the
        # fractions carried over (see `allowed`).
        self._allowed = self.limit
        self._carry = 0.0

    @property
    def capacity(self) -> int:
        """The limit as a whole number of requests."""
        return int(self.limit)

    @property
    def allowed(self) -> float:
        """What admission compares the requests in flight with (``in_flight < allowed``).

        Held, the limit itself: a fractional limit lets in its next whole number. While
        shedding, a whole number per window whose average over windows is the limit
        (the fraction carried from window to window): on a loop whose requests are
        each a large share of its CPU, one request more or less in flight is the
        difference between a loop with room and a saturated one (4 in flight kept
        bench/overload.py's loop 84 % busy, 5 saturated it), and rounding either way
        either wastes a tenth of the capacity or saturates the loop."""
        return self._allowed if self.shedding else self.limit

    def _dither(self) -> None:
        whole = math.floor(self.limit)
        self._carry += self.limit - whole
        if self._carry >= 1.0:
            self._carry -= 1.0
            whole += 1
        self._allowed = float(max(self.min_limit, whole))

    def sample(self, latency: float, in_flight: int, now: float) -> None:
        """Record one served request's latency (seconds) with ``in_flight`` at its end."""
        if self._window_start is None:
            self._open(now)
        self._seen += 1
        if len(self._samples) < MAX_SAMPLES:
            self._samples.append(latency)
        elif self._seen % 4 == 0:
            self._samples[self._seen % MAX_SAMPLES] = latency
        if in_flight > self._max_in_flight:
            self._max_in_flight = in_flight
        assert self._window_start is not None
        if now - self._window_start >= WINDOW and len(self._samples) >= MIN_SAMPLES:
            self._close(now)

    def _open(self, now: float) -> None:
        self._window_start = now
        # The loop thread's CPU clock: this runs on the loop thread.
        self._cpu_start = time.thread_time()
        self._window_limit = self.limit

    def _close(self, now: float) -> None:
        assert self._window_start is not None
        cpu = time.thread_time()
        elapsed = now - self._window_start
        busy = (cpu - self._cpu_start) / elapsed
        rate = self._seen / elapsed
        lag = self.loop_lag
        self._update(None if lag is None else lag(self._window_start), busy, rate)
        self._window_start = now
        self._cpu_start = cpu
        self._window_limit = self.limit

    def observe_in_flight(self, in_flight: int) -> None:
        """Note the concurrency reached (on admission), for the utilisation check."""
        if in_flight > self._max_in_flight:
            self._max_in_flight = in_flight

    def shed(self) -> None:
        """A request was shed (counted per window: a window of mostly refusals)."""
        self._sheds += 1

    def start_shedding(self) -> None:
        """Admission begins shedding an open-loop overload. A loop that was saturated
        while the crowd was held drops its limit at once to what its CPU serves at the
        baseline latency with SHED_BUSY of its time (Little's law, from the last window),
        instead of window by window (see ``_update``)."""
        self.shedding = True
        self._carry = 0.0
        long, busy, rate = self.long, self.busy, self.rate
        if not (self.warming or long is None or rate <= 0 or busy <= SHED_BUSY):
            self._set(min(self.limit, SHED_BUSY * long * rate / busy))
        self._dither()

    def drop(self) -> None:
        """A deadline expired: back off (once per window)."""
        if not self._dropped and not self.warming:
            self._dropped = True
            self.limit = max(float(self.min_limit), self.limit * BACKOFF)

    def clear(self, now: float) -> bool:
        """Whether nothing says the app is congested right now: the last window was not,
        its latency was within the band, and the loop's thread is neither busy nor
        late since this window began."""
        if self.congested or self.warming:
            return False
        short, long = self.short, self.long
        if short is not None and long is not None and short > TOLERANCE * long:
            return False
        start = self._window_start
        if start is None:
            return True
        lag = self.loop_lag
        if lag is not None and lag(start) > CONGESTED_LAG:
            return False
        elapsed = now - start
        if elapsed < CLEAR_MIN_ELAPSED:
            return self.busy < CLEAR_BUSY
        return (time.thread_time() - self._cpu_start) / elapsed < CLEAR_BUSY

    def grow_on_demand(self, in_flight: int) -> bool:
        """Raise the limit to let one more in (at most doubling per window); whether it
        now does."""
        ceiling = min(float(self.max_limit), 2.0 * max(self._window_limit, float(self.min_limit)))
        wanted = min(ceiling, float(in_flight + 1))
        if wanted > self.limit:
            self.limit = wanted
        if in_flight + 1 > self._max_in_flight:
            self._max_in_flight = in_flight + 1
        return in_flight < self.limit

    def tick(self, now: float) -> None:
        """Close a window left open by too few requests (STALE_WINDOW): the congestion
        flag must not keep what an old burst said while the app has since gone quiet,
        and an app serving fewer than MIN_SAMPLES requests a second must still learn
        (and finish its warm-up) from the few it serves."""
        start = self._window_start
        if start is None or now - start < STALE_WINDOW or len(self._samples) >= MIN_SAMPLES:
            return
        if self._samples:
            self._close(now)
            return
        cpu = time.thread_time()
        elapsed = now - start
        busy = (cpu - self._cpu_start) / elapsed
        lag = self.loop_lag
        late = lag is not None and lag(start) > CONGESTED_LAG
        refusing = self._sheds > 0
        self.busy = busy
        self.congested = (busy > CONGESTED_CPU and not refusing) or late
        self.rate = 0.0
        self.short = None  # nothing served for a second: the last figure is stale
        self._seen = 0
        self._sheds = 0
        self._max_in_flight = 0
        self._window_start = now
        self._cpu_start = cpu
        self._window_limit = self.limit

    def _update(self, lag: float | None, busy: float = 0.0, rate: float = 0.0) -> None:
        samples = sorted(self._samples)
        short = samples[min(len(samples) - 1, int(len(samples) * PERCENTILE))]
        used = self._max_in_flight
        dropped = self._dropped
        refusing = self._sheds > self._seen
        self._samples.clear()
        self._seen = 0
        self._sheds = 0
        self._max_in_flight = 0
        self._dropped = False
        self._windows += 1
        self.short = short
        self.busy = busy
        self.rate = rate
        # A loop busy answering refusals is not congested by served work (the lag, which
        # every request feels, still counts).
        self.congested = congested = (busy > CONGESTED_CPU and not refusing) or (
            lag is not None and lag > CONGESTED_LAG
        )
        # Hysteresis for following the baseline up: once the loop was congested, it must
        # fall below CLEAR_BUSY before a latency rise counts as a slower dependency. A
        # saturated loop hovering around CONGESTED_CPU otherwise let its own queueing
        # into the baseline window by window, and the limit ratcheted up with it.
        if busy > CONGESTED_CPU:
            self._hot = True
        elif busy < CLEAR_BUSY:
            self._hot = False
        long = self.long
        if long is None or self._windows <= WARMUP_WINDOWS:
            # The first windows: a plain mean, so one odd window does not set the base.
            n = self._windows
            long = short if long is None else long + (short - long) / n
        elif short <= long:
            long += (short - long) * FOLLOW  # faster: latency recovered
            self._rising = 0
        elif not congested and not refusing and not self._hot:
            # A slower dependency, not our loop (nor the loop's refusals). On a loop
            # with room, at once; on a busy one, once it has lasted: a closed-loop crowd
            # arriving after a pause (wrk restarting, a deploy) first shows 80-90 % busy
            # windows whose latency is its own queueing, and a baseline that followed
            # them raised the limit the loop settles at for good (bench/closed_loop.py,
            # light: the 50-connection limit 15 before 200 connections, 22 after).
            self._rising += 1
            if busy < CPU_CAP_BUSY or self._rising > RISE_WINDOWS:
                long += (short - long) * FOLLOW
        else:
            self._rising = 0
        self.long = long
        if self.warming:
            self._peak = max(self._peak, used)
            if self._windows >= WARMUP_WINDOWS:
                self.warming = False
                self._set(2.0 * self._peak)
            return
        if dropped:
            return
        if not (self.shedding and refusing):
            # Held, or shedding only a few (the load fell back to what the loop serves:
            # the queue must be able to drain, or shedding would never end).
            self._adjust(short, long, used, busy, rate, congested, refusing)
        elif busy > CPU_CAP_BUSY:
            # An open-loop overload being shed: its refusals are not re-sends (admission
            # sheds only once the crowd has shown it is not held back by waiting), so
            # the busy share is real, refusals included. On a fully busy loop every
            # request admitted waits for the others' CPU bursts (ten in flight at 5 ms
            # each put 50 ms ahead of each), and the refusals wait for their turn too:
            # the admitted miss their deadlines and the refused get their 503 late.
            # With a little room the loop serves less than it could. So the limit
            # steers the loop thread's busy share to SHED_BUSY: up or down by
            # SHED_GAIN times the difference, per window. Integral control: where one
            # request more or less in flight moves the loop from room to saturation
            # (dithered between two whole numbers, see `allowed`), the busy share
            # averages SHED_BUSY over windows whatever the step. A proportional cut to
            # SHED_BUSY / busy and a harder one for a saturated window kept the
            # limit at the lower number instead (bench/overload.py at 3x: 4 to 4.4
            # where 4.6 was due, the loop 91 % busy and 167/s served of 184).
            step = SHED_GAIN * (SHED_BUSY - busy)
            if step > 0 and short > TOLERANCE * long:
                step = 0.0  # room, but the admitted are late: do not add to them
            self._set(self.limit * (1.0 + step))
        else:
            self._adjust(short, long, used, busy, rate, congested, refusing)
        if self.shedding:
            self._dither()

    def _adjust(
        self,
        short: float,
        long: float,
        used: int,
        busy: float,
        rate: float,
        congested: bool,
        refusing: bool,
    ) -> None:
        # What the loop's CPU serves at the baseline latency (Little's law). Not from a
        # window of mostly refusals: its busy share is theirs, and the served rate alone
        # over it would make the loop look slow, pulling the limit to its floor.
        serves = long * rate / max(busy, CPU_CAP_BUSY) if rate > 0 and not refusing else None
        if congested and serves is None and refusing:
            # Late while mostly refusing: the CPU figures are the refusals'; back off
            # gently (the lag is real, and some of it may be the served work's).
            self._set(self.limit * BACKOFF)
            return
        if congested:
            # The loop is the bottleneck: the limit goes to what its CPU can serve at
            # the baseline latency (with headroom), from above at most halving per
            # window; never lower, or the loop would idle while requests wait outside
            # it. From below too: the limit a congested loop settles at must not depend
            # on what happened before (a limit left low by a storm would hold a
            # closed-loop crowd below what the loop serves, and never recover).
            if serves is not None:
                target = CPU_HEADROOM * serves
                moved = self.limit + (target - self.limit) * CONGESTED_FOLLOW
                self._set(max(moved, self.limit * CONGESTED_BACKOFF))
            return
        if used < self.limit / UNUSED_HEADROOM:
            # Far more limit than the last window used (the load fell): back towards
            # UNUSED_HEADROOM x the use, gradually. Left high, it would let the next
            # surge in at a concurrency learned for another load; a burst that needs
            # more finds grow_on_demand while the loop has room.
            self._set(max(UNUSED_HEADROOM * used, self.limit * UNUSED_DECAY))
        elif used >= self.limit / 2:
            gradient = max(0.5, min(1.0, TOLERANCE * long / short)) if short > 0 else 1.0
            target = self.limit * gradient + math.sqrt(self.limit)
            self._set(self.limit * (1 - SMOOTHING) + target * SMOOTHING)
        # else app-limited: the limit is not what holds latency, so learn nothing
        if busy > CPU_CAP_BUSY and serves is not None:
            # The loop's CPU caps what any limit can buy: more admitted than it can
            # serve at the baseline latency (with some headroom) only queues on the
            # loop, and a surge then overloads it twice over before the backoff catches up.
            self._set(min(self.limit, CPU_HEADROOM * serves))

    def _set(self, limit: float) -> None:
        self.limit = max(float(self.min_limit), min(float(self.max_limit), limit))
