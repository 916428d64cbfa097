"""The gradient limiter, driven window by window with made-up clocks (no sleeping).

The wall clock is the ``now`` given to the limiter; the loop thread's CPU clock
(``time.thread_time`` in the limiter's module) is replaced by one that runs at a chosen
busy share of it, and the lag meter by a number the test sets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import SimpleNamespace

import pytest

import poise.admission.limiter as limiter_module
from poise.admission.limiter import (
    BACKOFF,
    CLEAR_BUSY,
    CLEAR_MIN_ELAPSED,
    CONGESTED_BACKOFF,
    CONGESTED_CPU,
    CONGESTED_FOLLOW,
    CONGESTED_LAG,
    CPU_CAP_BUSY,
    CPU_HEADROOM,
    MIN_SAMPLES,
    RISE_WINDOWS,
    SHED_BUSY,
    SHED_GAIN,
    SMOOTHING,
    STALE_WINDOW,
    TOLERANCE,
    WARMUP_WINDOWS,
    WINDOW,
    GradientLimiter,
)

# Shares of the loop thread's time: idle, busy enough to cap the limit but not
# congested, and congested.
IDLE = 0.0
CAPPING = (CPU_CAP_BUSY + CONGESTED_CPU) / 2
SATURATED = (CONGESTED_CPU + 1.0) / 2


class Loop:
    """The loop thread's clocks: wall time, CPU time at ``busy`` share of it, and lag."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.cpu = 0.0
        self.busy = IDLE
        self.lag = 0.0

    def advance(self, seconds: float) -> float:
        self.now += seconds
        self.cpu += self.busy * seconds
        return self.now

    def thread_time(self) -> float:
        return self.cpu

    def loop_lag(self, since: float) -> float:
        return self.lag


@pytest.fixture
def loop(monkeypatch: pytest.MonkeyPatch) -> Loop:
    loop = Loop()
    monkeypatch.setattr(limiter_module, "time", SimpleNamespace(thread_time=loop.thread_time))
    return loop


class Traffic:
    """Served requests fed to a limiter, whole windows at a time.

    It keeps the limiter's rule for closing a window (at least WINDOW long and
    MIN_SAMPLES requests; a tick closes one STALE_WINDOW old with fewer) to know where
    each window ends.
    """

    def __init__(self, limiter: GradientLimiter, loop: Loop) -> None:
        self.limiter = limiter
        self.loop = loop
        self.start: float | None = None
        self.count = 0

    def windows(
        self,
        count: int,
        *,
        latency: float,
        in_flight: int,
        rate: float | None = None,
        sheds: float = 0.0,
    ) -> None:
        """``count`` windows of requests served at ``latency`` with ``in_flight`` at their
        end, ``rate`` a second (by default what Little's law says of the two), and
        ``sheds`` refusals per served request."""
        limiter, loop = self.limiter, self.loop
        rate = in_flight / latency if rate is None else rate
        if self.start is None:
            self.start, self.count = loop.now, 1
            limiter.sample(latency, in_flight, loop.now)  # opens the first window
        for _ in range(count):
            served = max(MIN_SAMPLES, math.ceil(WINDOW * rate))
            for _ in range(round(sheds * served)):
                limiter.shed()
            while True:
                now = loop.advance(1 / rate)
                limiter.sample(latency, in_flight, now)
                self.count += 1
                if now - self.start >= WINDOW and self.count >= MIN_SAMPLES:
                    self.start, self.count = now, 0
                    break

    def tick(self, now: float) -> None:
        """The health tick, at ``now``."""
        self.limiter.tick(now)
        start = self.start
        if start is not None and now - start >= STALE_WINDOW and self.count < MIN_SAMPLES:
            self.start, self.count = now, 0


def make(
    loop: Loop, *, min_limit: int = 1, max_limit: int = 1000
) -> tuple[GradientLimiter, Traffic]:
    limiter = GradientLimiter(min_limit=min_limit, max_limit=max_limit, loop_lag=loop.loop_lag)
    return limiter, Traffic(limiter, loop)


def warmed(
    loop: Loop, *, latency: float = 0.1, peak: int = 50, **kwargs: int
) -> tuple[GradientLimiter, Traffic]:
    """A limiter past its warm-up: the limit is twice ``peak``, the baseline ``latency``."""
    limiter, traffic = make(loop, **kwargs)
    traffic.windows(WARMUP_WINDOWS, latency=latency, in_flight=peak)
    assert not limiter.warming
    return limiter, traffic


def cpu_target(limiter: GradientLimiter) -> float:
    """What the last window's CPU says the loop can serve at the baseline, with headroom."""
    assert limiter.long is not None
    return CPU_HEADROOM * limiter.long * limiter.rate / max(limiter.busy, CPU_CAP_BUSY)


# -- warm-up and growth --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peak", "min_limit", "max_limit", "expected"),
    [
        pytest.param(30, 4, 1000, 60, id="twice-the-peak"),
        pytest.param(600, 4, 1000, 1000, id="capped-by-max"),
        pytest.param(1, 4, 1000, 4, id="raised-to-min"),
    ],
)
def test_warm_up_admits_up_to_the_max_then_starts_at_twice_the_peak(
    loop: Loop, peak: int, min_limit: int, max_limit: int, expected: int
) -> None:
    limiter, traffic = make(loop, min_limit=min_limit, max_limit=max_limit)
    traffic.windows(WARMUP_WINDOWS - 1, latency=0.5, in_flight=peak)
    # Everything admitted (up to the maximum) while it learns.
    assert (limiter.warming, limiter.capacity) == (True, max_limit)
    traffic.windows(1, latency=0.5, in_flight=peak)
    assert (limiter.warming, limiter.capacity) == (False, expected)
    assert limiter.long == pytest.approx(0.5)


def test_grows_by_the_square_root_while_latency_holds(loop: Loop) -> None:
    limiter, traffic = warmed(loop, peak=30)
    assert limiter.limit == 60
    traffic.windows(1, latency=0.1, in_flight=60)
    assert limiter.limit == pytest.approx(60 + SMOOTHING * math.sqrt(60))
    for _ in range(10):
        before = limiter.limit
        traffic.windows(1, latency=0.1, in_flight=limiter.capacity)
        assert limiter.limit > before
    assert not limiter.congested


def test_app_limited_traffic_does_not_grow_the_limit_and_an_unused_one_decays(
    loop: Loop,
) -> None:
    """Using under half the limit: the limit is not what holds latency, so it does not
    grow; it comes back towards twice the use (the load fell), gradually."""
    limiter, traffic = warmed(loop, peak=30)
    before = limiter.limit
    traffic.windows(1, latency=0.1, in_flight=int(before / 2) - 1)
    assert limiter.limit == pytest.approx(max(2 * (int(before / 2) - 1), before * 0.8))
    assert limiter.limit < before
    for _ in range(20):
        traffic.windows(1, latency=0.1, in_flight=10)
        assert limiter.limit >= 20  # never below twice the use
    assert limiter.limit < 22  # settled near it (at twice, latency holding, it may grow)


def test_a_busy_loop_caps_the_limit_at_what_its_cpu_serves(loop: Loop) -> None:
    """Busy but not congested: the warm-up's twice-the-peak headroom is cut to what the
    loop's CPU can serve at the baseline (with CPU_HEADROOM), before a surge uses it."""
    limiter, traffic = warmed(loop, peak=30)
    assert limiter.limit == 60
    loop.busy = CAPPING
    traffic.windows(1, latency=0.1, in_flight=30)
    assert not limiter.congested
    assert limiter.rate == pytest.approx(300, rel=0.01)
    assert limiter.limit == pytest.approx(cpu_target(limiter))
    assert limiter.limit < 60


# -- congestion ----------------------------------------------------------------------------


def congested_move(limiter: GradientLimiter, before: float) -> float:
    """Where a congested window takes the limit: towards the CPU target by
    CONGESTED_FOLLOW of the way, cutting it by CONGESTED_BACKOFF at most."""
    target = cpu_target(limiter)
    moved = max(before + (target - before) * CONGESTED_FOLLOW, before * CONGESTED_BACKOFF)
    return max(float(limiter.min_limit), min(float(limiter.max_limit), moved))


@pytest.mark.parametrize(
    "min_limit",
    [pytest.param(1, id="down-to-the-cpu-target"), pytest.param(20, id="down-to-the-floor")],
)
def test_a_congested_loop_shrinks_to_what_its_cpu_serves_halving_at_most(
    loop: Loop, min_limit: int
) -> None:
    """Loop thread saturated, latency doubled: each window the limit moves towards
    CPU_HEADROOM x long x rate / busy, by at most CONGESTED_BACKOFF, and never below it
    (nor below the floor); the baseline does not follow the congestion."""
    limiter, traffic = warmed(loop, min_limit=min_limit)
    assert limiter.limit == 100
    loop.busy = SATURATED
    for _ in range(12):
        before = limiter.limit
        traffic.windows(1, latency=0.2, in_flight=limiter.capacity, rate=100)
        assert limiter.congested
        assert limiter.limit == pytest.approx(congested_move(limiter, before))
        assert limiter.limit >= before * CONGESTED_BACKOFF
        assert limiter.limit >= min(before, max(cpu_target(limiter), min_limit)) * (1 - 1e-9)
    assert limiter.limit == pytest.approx(max(cpu_target(limiter), min_limit), rel=0.05)
    assert limiter.limit < 0.25 * 100
    assert limiter.long == pytest.approx(0.1)


def test_a_congested_loop_settles_at_its_cpu_target_whatever_the_limit_was() -> None:
    """Where a congested loop's limit settles does not depend on the past: a limit left
    low (by an earlier storm) rises to what the loop's CPU serves, as a high one falls."""
    settled = []
    for peak in (5, 100):
        loop = Loop()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(limiter_module, "time", SimpleNamespace(thread_time=loop.thread_time))
            limiter, traffic = warmed(loop, peak=peak)
            assert limiter.limit == 2 * peak
            loop.busy = SATURATED
            for _ in range(20):
                traffic.windows(1, latency=0.2, in_flight=limiter.capacity, rate=500)
                assert limiter.congested
            settled.append((limiter.limit, cpu_target(limiter)))
    (low, low_target), (high, high_target) = settled
    assert low_target == pytest.approx(high_target)
    assert low == pytest.approx(low_target, rel=0.01)
    assert high == pytest.approx(high_target, rel=0.01)


@pytest.mark.parametrize(
    ("sheds", "congested"),
    [
        pytest.param(2.0, False, id="mostly-refusals"),
        pytest.param(0.0, True, id="served-work-only"),
    ],
)
def test_a_loop_busy_answering_refusals_is_not_congested(
    loop: Loop, sheds: float, congested: bool
) -> None:
    """Regression: closed-loop clients re-send each 503 at once, so the loop is busy
    answering refusals. That busy share is not served work: no congestion, and the limit
    does not fall. The same busy share from served work (no refusals) is congestion."""
    limiter, traffic = warmed(loop)
    start = limiter.limit
    loop.busy = SATURATED
    for _ in range(12):
        traffic.windows(1, latency=0.1, in_flight=limiter.capacity, sheds=sheds)
        assert limiter.congested is congested
        if not congested:
            assert limiter.limit >= start
    assert limiter.long == pytest.approx(0.1)


def test_a_refusal_storm_does_not_drive_the_limit_to_its_floor(loop: Loop) -> None:
    """Regression: closed-loop clients re-send each 503 at once; the loop is busy
    answering them, and the requests it serves meanwhile are slower (latency doubled).
    Not congestion, so the limit must not fall to its floor, as it did when that busy
    share counted as congestion."""
    limiter, traffic = warmed(loop)
    start = limiter.limit
    loop.busy = SATURATED
    lowest = start
    for _ in range(12):
        traffic.windows(1, latency=0.2, in_flight=limiter.capacity, sheds=2.0)
        assert not limiter.congested
        lowest = min(lowest, limiter.limit)
    assert lowest > start / 2


def test_lag_counts_as_congestion_even_while_refusing(loop: Loop) -> None:
    """The lag is felt by every request, refused or served: it still says congested."""
    limiter, traffic = warmed(loop)
    start = limiter.limit
    loop.busy = SATURATED
    loop.lag = 2 * CONGESTED_LAG
    traffic.windows(1, latency=0.2, in_flight=limiter.capacity, sheds=2.0)
    assert limiter.congested
    assert limiter.long == pytest.approx(0.1)  # the baseline kept
    # The CPU figures are the refusals': a gentle back-off, not the CPU target.
    assert limiter.limit == pytest.approx(start * BACKOFF)


# -- while admission sheds an open-loop overload ----------------------------------------------


def test_while_shedding_a_busy_loop_cuts_the_limit_even_when_mostly_refusing(
    loop: Loop,
) -> None:
    """Regression (bench/overload.py at 3x: 2 % of C): while shedding an open loop, the
    refusals are not re-sends, so a fully busy loop is overloaded, refusals or not; it
    cannot even read the excess it must refuse. The limit shrinks by SHED_GAIN x the
    busy share over SHED_BUSY, window after window. Held (not shedding), the same
    windows are the closed-loop refusal storm, and the limit holds (see the test above)."""
    limiter, traffic = warmed(loop)
    limiter.shedding = True
    loop.busy = SATURATED
    for _ in range(5):
        before = limiter.limit
        traffic.windows(1, latency=0.1, in_flight=limiter.capacity, sheds=2.0)
        assert limiter.limit == pytest.approx(before * (1 - SHED_GAIN * (SATURATED - SHED_BUSY)))
    assert limiter.long == pytest.approx(0.1)


def test_while_shedding_a_loop_with_room_gets_more_unless_the_admitted_are_late(
    loop: Loop,
) -> None:
    """Shedding with the loop's thread under SHED_BUSY busy wastes capacity: the limit
    grows by SHED_GAIN x the room, unless the admitted requests' latency is out of its
    band (then more in flight would only make them later)."""
    limiter, traffic = warmed(loop)
    limiter.shedding = True
    loop.busy = CAPPING
    before = limiter.limit
    traffic.windows(1, latency=0.1, in_flight=limiter.capacity, sheds=2.0)
    assert limiter.limit == pytest.approx(before * (1 + SHED_GAIN * (SHED_BUSY - CAPPING)))
    before = limiter.limit
    traffic.windows(1, latency=0.1 * TOLERANCE * 1.5, in_flight=limiter.capacity, sheds=2.0)
    assert limiter.limit == before


def test_while_shedding_the_loop_settles_near_shed_busy_between_two_whole_limits(
    loop: Loop,
) -> None:
    """bench/overload.py's loop is 84 % busy with 4 requests in flight and saturated
    with 5. Rounded either way, the limit either wastes capacity or saturates the loop.
    Admitting a whole number per window that averages the fractional limit, and moving
    the limit by the busy share's distance from SHED_BUSY (integral control), the loop
    settles at SHED_BUSY on average: a cut to SHED_BUSY / busy, and a harder one for a
    saturated window, kept it at the lower number (91 % busy, 167/s served of 184)."""
    limiter, traffic = warmed(loop, peak=5)
    limiter.limit = 4.0
    limiter.start_shedding()  # the loop was idle: the limit stays

    def busy_at(allowed: float) -> float:
        return min(1.0, 0.21 * allowed)  # 4 in flight: 84 %; 5: saturated

    shares = []
    for _ in range(200):
        allowed = limiter.allowed
        assert allowed in (3.0, 4.0, 5.0, 6.0)
        loop.busy = busy_at(allowed)
        shares.append(loop.busy)
        traffic.windows(1, latency=0.1, in_flight=int(allowed), sheds=2.0)
    settled = shares[40:]
    assert sum(settled) / len(settled) == pytest.approx(SHED_BUSY, abs=0.02)


def test_the_whole_numbers_admitted_while_shedding_average_the_limit(loop: Loop) -> None:
    limiter, _ = warmed(loop, peak=5)
    limiter.start_shedding()
    seen = []
    for _ in range(100):
        limiter.limit = 4.3
        limiter._dither()
        seen.append(limiter.allowed)
    assert set(seen) == {4.0, 5.0}
    assert sum(seen) / len(seen) == pytest.approx(4.3, abs=0.02)
    limiter.shedding = False
    assert limiter.allowed == limiter.limit == 4.3  # held: the limit as it is


def test_shedding_starts_at_what_the_loop_serves_with_shed_busy(loop: Loop) -> None:
    """Held until then, a saturated loop's limit kept CPU_HEADROOM over what it serves.
    Shedding begins with the limit at SHED_BUSY of the CPU's Little's-law concurrency at
    once: until it gets there, the excess waits unread in the kernel."""
    limiter, traffic = warmed(loop)
    loop.busy = SATURATED
    traffic.windows(3, latency=0.2, in_flight=limiter.capacity, rate=500)
    assert limiter.congested
    before = limiter.limit
    assert limiter.long is not None
    expected = SHED_BUSY * limiter.long * limiter.rate / limiter.busy
    assert expected < before
    limiter.start_shedding()
    assert limiter.shedding
    assert limiter.limit == pytest.approx(expected)


def test_shedding_a_loop_with_room_starts_where_the_limit_was(loop: Loop) -> None:
    """A dependency slowed down, not the loop: shedding leaves the limit to the latency."""
    limiter, traffic = warmed(loop)
    loop.busy = CAPPING
    traffic.windows(1, latency=0.1, in_flight=limiter.capacity)
    before = limiter.limit
    limiter.start_shedding()
    assert limiter.limit == before


def test_lag_alone_is_congestion(loop: Loop) -> None:
    limiter, traffic = warmed(loop)
    loop.lag = 2 * CONGESTED_LAG
    traffic.windows(1, latency=0.2, in_flight=limiter.capacity)
    assert limiter.congested
    loop.lag = CONGESTED_LAG / 2
    traffic.windows(1, latency=0.1, in_flight=limiter.capacity)
    assert not limiter.congested


def test_a_slower_dependency_moves_the_baseline_instead(loop: Loop) -> None:
    """Latency triples while the loop is idle and on time: Little's law needs more
    concurrency, so the limit must not collapse; the baseline follows in a few windows."""
    limiter, traffic = warmed(loop, latency=0.02, peak=30)
    start = limiter.limit
    loop.lag = CONGESTED_LAG / 10
    for _ in range(20):
        traffic.windows(1, latency=0.06, in_flight=limiter.capacity)
        assert not limiter.congested
        assert limiter.limit > start * 0.9
    assert limiter.long == pytest.approx(0.06, rel=0.05)
    assert limiter.limit > start


def test_a_deadline_expiry_backs_off_once_per_window(loop: Loop) -> None:
    limiter, traffic = make(loop)
    traffic.windows(WARMUP_WINDOWS - 1, latency=0.1, in_flight=50)
    limiter.drop()
    assert limiter.limit == 1000  # not while warming up
    traffic.windows(1, latency=0.1, in_flight=50)
    before = limiter.limit
    limiter.drop()
    limiter.drop()
    assert limiter.limit == pytest.approx(before * BACKOFF)
    traffic.windows(1, latency=0.1, in_flight=limiter.capacity)
    assert limiter.limit == pytest.approx(before * BACKOFF)  # that window does not grow it
    limiter.drop()  # a new window: backs off again
    assert limiter.limit == pytest.approx(before * BACKOFF**2)


def test_a_deadline_expiry_does_not_go_below_the_floor(loop: Loop) -> None:
    limiter, _ = warmed(loop, peak=4, min_limit=8)
    assert limiter.limit == 8
    limiter.drop()
    assert limiter.limit == 8


# -- on demand -----------------------------------------------------------------------------


Setup = Callable[[GradientLimiter, Traffic, Loop], None]


def _nothing(limiter: GradientLimiter, traffic: Traffic, loop: Loop) -> None:
    pass


def _congested(limiter: GradientLimiter, traffic: Traffic, loop: Loop) -> None:
    loop.busy = SATURATED
    traffic.windows(1, latency=0.2, in_flight=limiter.capacity)
    loop.busy = IDLE


def _slow(limiter: GradientLimiter, traffic: Traffic, loop: Loop) -> None:
    traffic.windows(1, latency=0.3, in_flight=limiter.capacity)
    assert limiter.short is not None
    assert limiter.long is not None
    assert limiter.short > TOLERANCE * limiter.long  # the case is what it says


def _late(limiter: GradientLimiter, traffic: Traffic, loop: Loop) -> None:
    loop.lag = 2 * CONGESTED_LAG


def _busy_now(limiter: GradientLimiter, traffic: Traffic, loop: Loop) -> None:
    loop.busy = (CLEAR_BUSY + 1.0) / 2


def _busy_last_window(limiter: GradientLimiter, traffic: Traffic, loop: Loop) -> None:
    loop.busy = (CLEAR_BUSY + CONGESTED_CPU) / 2
    traffic.windows(1, latency=0.1, in_flight=limiter.capacity)
    loop.busy = IDLE


@pytest.mark.parametrize(
    ("setup", "after", "clear"),
    [
        pytest.param(_nothing, 2 * CLEAR_MIN_ELAPSED, True, id="quiet"),
        pytest.param(_congested, 2 * CLEAR_MIN_ELAPSED, False, id="last-window-congested"),
        pytest.param(_slow, 2 * CLEAR_MIN_ELAPSED, False, id="latency-out-of-band"),
        pytest.param(_late, 2 * CLEAR_MIN_ELAPSED, False, id="loop-late-now"),
        pytest.param(_busy_now, 2 * CLEAR_MIN_ELAPSED, False, id="loop-busy-now"),
        pytest.param(_busy_last_window, CLEAR_MIN_ELAPSED / 2, False, id="early-last-busy"),
        pytest.param(_busy_last_window, 2 * CLEAR_MIN_ELAPSED, True, id="judged-on-now"),
    ],
)
def test_clear_says_whether_nothing_says_the_app_is_congested(
    loop: Loop, setup: Setup, after: float, clear: bool
) -> None:
    limiter, traffic = warmed(loop)
    setup(limiter, traffic, loop)
    assert limiter.clear(loop.advance(after)) is clear


def test_not_clear_while_warming_up(loop: Loop) -> None:
    limiter, traffic = make(loop)
    traffic.windows(1, latency=0.1, in_flight=5)
    assert not limiter.clear(loop.advance(1.0))


def test_grow_on_demand_lets_one_more_in_at_most_doubling_per_window(loop: Loop) -> None:
    limiter, traffic = warmed(loop, peak=30, max_limit=200)
    assert limiter.limit == 60
    assert limiter.grow_on_demand(60)
    assert limiter.limit == 61
    assert limiter.grow_on_demand(59)
    assert limiter.limit == 61  # never lowered
    assert not limiter.grow_on_demand(500)
    assert limiter.limit == 120  # twice the window's limit, not 501
    traffic.windows(1, latency=0.1, in_flight=120)
    grown = limiter.limit
    assert grown > 120
    assert not limiter.grow_on_demand(500)
    assert limiter.limit == min(200, 2 * grown)  # the new window's ceiling, capped by max


# -- the tick ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("busy", "congested"),
    [pytest.param(IDLE, False, id="load-stopped"), pytest.param(SATURATED, True, id="loop-stuck")],
)
def test_a_stale_window_is_closed_by_the_tick(loop: Loop, busy: float, congested: bool) -> None:
    """The congested flag says what the loop does now: it does not stick after the load
    that raised it has stopped (nor clear while the loop is still saturated)."""
    limiter, traffic = warmed(loop)
    _congested(limiter, traffic, loop)
    assert limiter.congested
    loop.busy = busy
    traffic.tick(loop.advance(STALE_WINDOW / 2))
    assert limiter.congested  # too soon to tell
    traffic.tick(loop.advance(STALE_WINDOW / 2))
    assert limiter.congested is congested
    assert limiter.busy == pytest.approx(busy)


def test_a_window_with_enough_samples_is_left_to_its_own_close(loop: Loop) -> None:
    limiter, traffic = warmed(loop)
    _congested(limiter, traffic, loop)
    for _ in range(MIN_SAMPLES):
        limiter.sample(0.1, 5, loop.now)  # enough samples, but not WINDOW old yet
    limiter.tick(loop.advance(STALE_WINDOW))
    assert limiter.congested  # the tick did not close it: it is not stale, only short


def test_the_limit_recovers_from_its_floor_once_congestion_ends(loop: Loop) -> None:
    """Never a sticky floor: congestion drives the limit down to its floor; once the load
    stops the tick clears the flag, and when traffic comes back at the baseline latency
    a crowd that finds the limit reached grows it on demand, doubling each window."""
    limiter, traffic = warmed(loop, min_limit=2)
    loop.busy = SATURATED
    for _ in range(20):
        traffic.windows(1, latency=0.4, in_flight=limiter.capacity, rate=10)
    assert (limiter.congested, limiter.limit) == (True, 2)
    loop.busy = IDLE
    traffic.tick(loop.advance(STALE_WINDOW))
    assert not limiter.congested
    traffic.windows(1, latency=0.1, in_flight=limiter.capacity)
    for _ in range(6):
        assert limiter.clear(loop.advance(2 * CLEAR_MIN_ELAPSED))
        limiter.grow_on_demand(10 * limiter.capacity)
        traffic.windows(1, latency=0.1, in_flight=limiter.capacity)
    assert limiter.limit > 2 * 2**5


def test_a_stale_window_of_refusals_is_not_congestion(loop: Loop) -> None:
    """A slow app (fewer than MIN_SAMPLES served a second) under a closed-loop crowd
    re-sending 503s: its windows are closed by the tick, not by samples. The loop busy
    answering refusals is not congestion there either, as for a window closed by
    samples (test_a_loop_busy_answering_refusals_is_not_congested)."""
    limiter, _ = warmed(loop)
    loop.busy = SATURATED
    for _ in range(4 * MIN_SAMPLES):
        limiter.shed()
    for _ in range(MIN_SAMPLES // 2):
        limiter.sample(0.5, 5, loop.advance(STALE_WINDOW / MIN_SAMPLES))
    limiter.tick(loop.advance(STALE_WINDOW))
    assert not limiter.congested


def test_a_slow_app_finishes_its_warm_up_with_the_tick_running(loop: Loop) -> None:
    """An app serving 5 requests a second (1 s each, 5 in flight) with the health tick
    running every 0.1 s: after a minute of traffic the limit must have been learned
    (until then everything is admitted up to the maximum: no protection)."""
    limiter, _ = make(loop)
    for i in range(600):
        loop.advance(0.1)
        if i % 2:
            limiter.sample(1.0, 5, loop.now)
        limiter.tick(loop.now)
    assert not limiter.warming


def test_a_loop_just_below_congested_does_not_feed_its_own_queueing_into_the_baseline(
    loop: Loop,
) -> None:
    """Regression: a saturated loop hovering around CONGESTED_CPU had windows just below
    it; each let the latency of its own queueing into the baseline, and the limit
    ratcheted up with it. Once congested, the busy share must fall below CLEAR_BUSY
    before a rise counts as a slower dependency."""
    limiter, traffic = warmed(loop)
    base = limiter.long
    loop.busy = SATURATED
    traffic.windows(1, latency=0.1, in_flight=limiter.capacity)
    assert limiter.congested
    loop.busy = (CONGESTED_CPU + CLEAR_BUSY) / 2  # between the two: still hot
    traffic.windows(5, latency=0.2, in_flight=limiter.capacity)
    assert not limiter.congested
    assert limiter.long == pytest.approx(base)
    loop.busy = CLEAR_BUSY / 2  # idle: the rise is a slower dependency's
    traffic.windows(5, latency=0.2, in_flight=limiter.capacity)
    assert limiter.long > 1.5 * base


def test_an_arriving_crowd_does_not_raise_the_baseline_but_a_lasting_rise_does(
    loop: Loop,
) -> None:
    """Regression (bench/closed_loop.py, light): after a pause the loop is not hot, and
    the first windows of a crowd arriving on it (busy, not yet congested) showed the
    crowd's own queueing; the baseline followed it and the limit the congested loop
    settled at stayed a half higher for good. A rise on a busy loop now counts as a
    slower dependency only once it has lasted more than RISE_WINDOWS windows."""
    limiter, traffic = warmed(loop)
    base = limiter.long
    assert base is not None
    loop.busy = CAPPING
    traffic.windows(RISE_WINDOWS, latency=0.15, in_flight=limiter.capacity)
    loop.busy = SATURATED  # the crowd has arrived: the loop is the bottleneck
    traffic.windows(5, latency=0.15, in_flight=limiter.capacity)
    assert limiter.long == pytest.approx(base)

    # On a busy loop that stays below congestion, a rise that lasts is followed.
    limiter, traffic = warmed(loop)
    loop.busy = CAPPING
    traffic.windows(RISE_WINDOWS, latency=0.15, in_flight=limiter.capacity)
    assert limiter.long == pytest.approx(base)
    traffic.windows(10, latency=0.15, in_flight=limiter.capacity)
    assert limiter.long == pytest.approx(0.15, rel=0.05)

    # A window back at the baseline starts the count again.
    limiter, traffic = warmed(loop)
    for _ in range(3):
        traffic.windows(RISE_WINDOWS, latency=0.15, in_flight=limiter.capacity)
        traffic.windows(1, latency=0.1, in_flight=limiter.capacity)
    assert limiter.long == pytest.approx(base)

    # On a loop with room, at once.
    limiter, traffic = warmed(loop)
    loop.busy = IDLE
    traffic.windows(1, latency=0.15, in_flight=limiter.capacity)
    assert limiter.long > base
