"""The gradient limiter and the admission queue, driven directly."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from poise.admission.controller import Admission
from poise.admission.limiter import MIN_SAMPLES, WARMUP_WINDOWS, WINDOW, GradientLimiter
from poise.admission.policy import CRITICAL, DEFAULT, SHEDDABLE, route
from poise.errors import SettingsError


def feed(limiter: GradientLimiter, latency: float, in_flight: int, windows: int,
         start: float = 0.0) -> float:  # fmt: skip
    """``windows`` full windows of samples at ``latency``; returns the clock after them."""
    now = start
    for _ in range(windows):
        for _ in range(MIN_SAMPLES):
            now += WINDOW / (MIN_SAMPLES - 1) + 1e-6
            limiter.sample(latency, in_flight, now)
    return now


def test_warm_up_admits_up_to_the_max_then_starts_at_twice_the_peak() -> None:
    limiter = GradientLimiter(min_limit=4, max_limit=1000)
    assert limiter.capacity == 1000
    assert limiter.warming
    feed(limiter, 0.010, in_flight=30, windows=WARMUP_WINDOWS)
    assert not limiter.warming
    assert limiter.capacity == 60
    assert limiter.long == pytest.approx(0.010)


def test_grows_while_latency_holds() -> None:
    limiter = GradientLimiter(min_limit=4, max_limit=1000)
    now = feed(limiter, 0.010, in_flight=30, windows=WARMUP_WINDOWS)
    start = limiter.limit
    feed(limiter, 0.011, in_flight=int(start), windows=10, start=now)
    assert limiter.limit > start + 10


def test_a_busy_loop_thread_shrinks_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """No loop monitor: the loop thread's CPU share alone says the loop is the bottleneck."""
    import poise.admission.limiter as module

    class Clock:
        cpu = 0.0

        def thread_time(self) -> float:
            self.cpu += 0.11  # read once per window: busy the whole window
            return self.cpu

    limiter = GradientLimiter(min_limit=4, max_limit=1000)
    now = feed(limiter, 0.020, in_flight=30, windows=WARMUP_WINDOWS)
    start = limiter.limit
    monkeypatch.setattr(module, "time", Clock())
    feed(limiter, 0.060, in_flight=int(start), windows=5, start=now)
    assert limiter.congested
    assert limiter.limit < start * 0.8
    assert limiter.long < 0.040  # the baseline did not follow the congestion


def test_a_lagging_loop_shrinks_the_limit_and_keeps_the_baseline() -> None:
    lag = [0.0]
    limiter = GradientLimiter(min_limit=4, max_limit=1000, loop_lag=lambda since: lag[0])
    now = feed(limiter, 0.020, in_flight=30, windows=WARMUP_WINDOWS)
    start = limiter.limit
    lag[0] = 0.04  # the loop is the bottleneck, but not saturated
    feed(limiter, 0.060, in_flight=int(start), windows=5, start=now)
    assert limiter.congested
    assert limiter.limit == pytest.approx(start * 0.9**5)
    assert limiter.long == pytest.approx(0.020)


def test_a_saturated_loop_falls_to_what_it_serves_at_most_halving_per_window() -> None:
    """Saturated (lag above twice the congestion threshold): the limit falls to the
    window's throughput x baseline latency (Little's law), by at most half a window,
    and on by 10 % a window while the saturation lasts."""
    lag = [0.0]
    limiter = GradientLimiter(min_limit=1, max_limit=1000, loop_lag=lambda since: lag[0])
    now = feed(limiter, 0.200, in_flight=30, windows=WARMUP_WINDOWS)
    assert limiter.limit == 60
    lag[0] = 0.2
    # feed() completes about 90 requests a second: at 0.2 s that needs 18 in flight.
    now = feed(limiter, 0.400, in_flight=60, windows=1, start=now)
    assert limiter.limit == pytest.approx(30)  # halved, not cut to ~19 at once
    now = feed(limiter, 0.400, in_flight=30, windows=1, start=now)
    assert 17.9 <= limiter.limit <= 20  # 90 to 100 a second x 0.2 s
    reached = limiter.limit
    feed(limiter, 0.400, in_flight=20, windows=1, start=now)
    assert limiter.limit == pytest.approx(reached * 0.9)


def test_a_busy_loop_caps_the_limit_at_what_its_cpu_can_serve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Loop thread 80 % busy completing ~90 requests/s: at most ~112/s at 100 %, which
    at the 0.2 s baseline is ~22 in flight; the limit keeps 25 % over that, not 2x."""
    import poise.admission.limiter as module

    class Clock:
        cpu = 0.0

        def thread_time(self) -> float:
            self.cpu += 0.08  # read once per ~0.1 s window: 80 % busy
            return self.cpu

    monkeypatch.setattr(module, "time", Clock())
    limiter = GradientLimiter(min_limit=1, max_limit=1000)
    now = feed(limiter, 0.200, in_flight=30, windows=WARMUP_WINDOWS)
    assert limiter.limit == 60  # twice the peak: the warm-up ignores the cap
    feed(limiter, 0.200, in_flight=20, windows=1, start=now)
    # feed() completes 90 to 100 requests a second: a cap of 28 to 31.
    assert 28 <= limiter.limit <= 31.3
    assert not limiter.congested


def test_a_slower_dependency_moves_the_baseline_instead() -> None:
    """Latency triples while the loop stays on time: Little's law needs more
    concurrency, so the limit must not collapse; the baseline follows in a few windows."""
    limiter = GradientLimiter(min_limit=4, max_limit=1000, loop_lag=lambda since: 0.001)
    now = feed(limiter, 0.020, in_flight=30, windows=WARMUP_WINDOWS)
    start = limiter.limit
    feed(limiter, 0.060, in_flight=int(start), windows=20, start=now)
    assert not limiter.congested
    assert limiter.long == pytest.approx(0.060, rel=0.05)
    assert limiter.limit > start


def test_app_limited_traffic_does_not_grow_the_limit() -> None:
    limiter = GradientLimiter(min_limit=4, max_limit=1000)
    now = feed(limiter, 0.010, in_flight=30, windows=WARMUP_WINDOWS)
    before = limiter.limit
    feed(limiter, 0.010, in_flight=3, windows=20, start=now)  # using 3 of 60
    assert limiter.limit == before


def test_deadline_expiry_backs_off_once_per_window() -> None:
    limiter = GradientLimiter(min_limit=4, max_limit=1000)
    feed(limiter, 0.010, in_flight=50, windows=WARMUP_WINDOWS)
    before = limiter.limit
    limiter.drop()
    limiter.drop()
    assert limiter.limit == pytest.approx(before * 0.9)


def test_route_options_are_validated() -> None:
    with pytest.raises(SettingsError, match="expected one of critical, default, sheddable"):
        route(priority="urgent")
    with pytest.raises(SettingsError, match=r"expected seconds > 0"):
        route(deadline=0)


def pinned(limit: int) -> Admission:
    return Admission(GradientLimiter(min_limit=limit, max_limit=limit))


@pytest.mark.anyio
async def test_queue_is_half_the_limit_and_critical_evicts() -> None:
    admission = pinned(4)
    assert all(admission.try_admit(DEFAULT) for _ in range(4))
    assert not admission.try_admit(DEFAULT)
    outcomes: dict[str, bool] = {}

    async def wait(name: str, priority: int) -> None:
        outcomes[name] = await admission.wait(priority, None)

    async with anyio.create_task_group() as group:
        group.start_soon(wait, "a", DEFAULT)
        group.start_soon(wait, "b", SHEDDABLE)
        await anyio.sleep(0.01)
        assert admission.queued == 2  # capacity: 4 / 2
        group.start_soon(wait, "c", DEFAULT)  # full: evicts the sheddable one
        group.start_soon(wait, "d", CRITICAL)  # full of defaults: evicts the newest
        await anyio.sleep(0.01)
        assert outcomes == {"b": False, "c": False}
        admission.release(0.01)  # a slot frees: critical first
        admission.release(0.01)
    assert outcomes == {"a": True, "b": False, "c": False, "d": True}
    assert admission.in_flight == 4


@pytest.mark.anyio
async def test_waiting_times_out_and_a_standing_queue_sheds_sheddable_at_once() -> None:
    admission = pinned(2)
    assert admission.try_admit(DEFAULT)
    assert admission.try_admit(DEFAULT)
    started = anyio.current_time()
    assert not await admission.wait(DEFAULT, None)  # nothing frees up within INTERVAL
    assert 0.09 < anyio.current_time() - started < 1.0
    assert not await admission.wait(DEFAULT, budget=0.0)
    assert admission.queued == 0


@pytest.mark.anyio
async def test_a_standing_queue_waits_briefly_serves_newest_first_and_sheds_sheddable() -> None:
    """CoDel: once the queue has not drained for INTERVAL, a newcomer waits at most
    TARGET, the queue is served newest first, and sheddable traffic does not wait."""
    admission = pinned(6)
    assert all(admission.try_admit(DEFAULT) for _ in range(6))
    outcomes: dict[str, bool] = {}
    waited: dict[str, float] = {}

    async def wait(name: str, priority: int) -> None:
        started = anyio.current_time()
        outcomes[name] = await admission.wait(priority, None)
        waited[name] = anyio.current_time() - started

    async with anyio.create_task_group() as group:
        group.start_soon(wait, "oldest", DEFAULT)
        await anyio.sleep(0.01)
        admission._last_empty -= 1.0  # the queue has not drained for a second
        await wait("sheddable", SHEDDABLE)
        assert outcomes == {"sheddable": False}
        assert waited["sheddable"] < 0.005  # shed at once, never queued
        group.start_soon(wait, "older", DEFAULT)
        group.start_soon(wait, "newest", DEFAULT)
        await anyio.lowlevel.checkpoint()  # both are queued, neither has waited yet
        assert admission.queued == 3
        admission.release(0.01)  # one slot: to the newest (adaptive LIFO)
    assert outcomes == {"sheddable": False, "newest": True, "older": False, "oldest": False}
    assert waited["older"] < 0.05  # gave up after TARGET (5 ms), not INTERVAL (100 ms)
    assert waited["oldest"] >= 0.09  # it came while the queue was young: up to INTERVAL
    assert admission.queued == 0
    assert admission.in_flight == 6


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_a_waiter_cancelled_from_outside_leaves_no_trace(anyio_backend: str) -> None:
    """Regression: a queued request cancelled by its server (or an outer timeout) must
    not stay queued, nor keep the slot it was handed just before."""
    admission = pinned(2)
    assert admission.try_admit(DEFAULT)
    assert admission.try_admit(DEFAULT)

    queued = asyncio.create_task(admission.wait(DEFAULT, None))
    await asyncio.sleep(0.01)
    queued.cancel()  # cancelled while queued
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert admission.queued == 0
    assert admission.in_flight == 2

    handed = asyncio.create_task(admission.wait(DEFAULT, None))
    await asyncio.sleep(0.01)
    admission.release(0.01)  # the slot goes to the waiter...
    assert admission.in_flight == 2
    handed.cancel()  # ...which is cancelled before it could start
    with pytest.raises(asyncio.CancelledError):
        await handed
    assert admission.queued == 0
    assert admission.in_flight == 1  # the slot came back
    assert admission.try_admit(DEFAULT)


@pytest.mark.parametrize(
    ("queued", "short", "limit", "base"),
    [
        pytest.param(0, 0.03, 8, 1, id="fast-app"),
        pytest.param(25, 0.2, 50, 1, id="half-full-queue"),
        pytest.param(5, 3.0, 4, 5, id="slow-app"),
    ],
)
def test_retry_after_is_the_drain_time_spread_over_more_than_one_second(
    queued: int, short: float, limit: int, base: int
) -> None:
    admission = pinned(limit)
    assert admission.limiter is not None
    admission.limiter.short = short
    admission._queued = queued
    draws = {admission.retry_after() for _ in range(400)}
    assert min(draws) == base
    assert max(draws) <= base + max(1, base // 2)
    assert len(draws) >= 2  # jittered: shed clients do not all come back in the same second


@pytest.mark.anyio
async def test_a_client_that_leaves_is_no_latency_sample_and_frees_its_slot() -> None:
    """Client disconnects are not failures: no latency sample, no back-off."""
    from poise._internal import InternalErrors
    from poise.admission.policy import Policies
    from poise.middleware.core import PoiseMiddleware
    from poise.routing import RouteTemplates
    from tests.middleware.test_ledger import request

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        while message["type"] != "http.disconnect" and message.get("more_body"):
            message = await receive()
        if message["type"] == "http.disconnect":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    admission = pinned(4)
    assert admission.limiter is not None
    templates = RouteTemplates(app)
    middleware = PoiseMiddleware(
        app, templates=templates, sinks=[], errors=InternalErrors(), admission=admission,
        policies=Policies(templates, rules=(), default_deadline=None, deadline_header=None),
    )  # fmt: skip
    await request(middleware)
    assert admission.limiter._seen == 1  # an answered request is a sample
    await request(middleware, [{"type": "http.request", "body": b"", "more_body": True},
                               {"type": "http.disconnect"}])  # fmt: skip
    assert admission.limiter._seen == 1  # the client that left is not
    assert admission.limiter.limit == 4
    assert admission.in_flight == 0
    assert admission.finished_total == 2
