"""Readiness as a state machine, driven tick by tick with made-up times (no sleeping)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from poise._internal import InternalErrors
from poise.health import Check, CheckResult, PoolState
from poise.health.state import MIN_REQUESTS, TICK, WINDOW, Health, HealthLimits

pytestmark = pytest.mark.anyio

LIMITS = HealthLimits(ready_max_lag=0.2, ready_max_shed=0.5, ready_pool_window=1.0,
                      ready_hold=2.0, live_loop_stuck=10.0)  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = time.monotonic()

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def make(**kwargs: Any) -> tuple[Health, dict[str, Any]]:
    world: dict[str, Any] = {"started": True, "shed": 0, "finished": 0}
    health = Health(
        kwargs.pop("limits", LIMITS),
        started=lambda: world["started"],
        shedding=lambda: (world["shed"], world["finished"]),
        errors=InternalErrors(),
    )
    return health, world


def result(status: str, at: float) -> CheckResult:
    return CheckResult(status, (), None if status == "pass" else "down", time.time(), at, 0.01)  # type: ignore[arg-type]


def run(health: Health, clock: Clock, seconds: float, lateness: float = 0.0) -> None:
    """Tick every TICK for ``seconds``, each tick ``lateness`` late."""
    for _ in range(round(seconds / TICK)):
        health.tick(clock.advance(TICK), lateness)


async def test_starting_until_started_and_every_critical_check_passed_once() -> None:
    health, world = make()
    db = health.add(Check("db", lambda: None, background=False))
    health.add(Check("cache", lambda: None, background=False, critical=False))
    clock = Clock()
    world["started"] = False
    run(health, clock, 1)
    assert health.state == "starting"
    world["started"] = True
    run(health, clock, 1)
    assert health.state == "starting"
    assert health.reasons == ("check db has not passed yet",)
    db.result = result("pass", clock.now)
    run(health, clock, TICK)
    assert health.state == "ready"  # the non-critical check is not waited for
    assert health.started_up()


async def test_a_failing_critical_check_degrades_and_recovery_waits_for_the_hold() -> None:
    health, _ = make()
    db = health.add(Check("db", lambda: None, background=False))
    clock = Clock()
    db.result = result("pass", clock.now)
    run(health, clock, 3)
    assert health.state == "ready"
    db.result = result("fail", clock.now)
    run(health, clock, TICK)
    assert health.state == "degraded"
    assert health.reasons == ("check db failed: down",)
    db.result = result("pass", clock.now)
    run(health, clock, 1.5)
    assert health.state == "degraded"  # under ready_hold (2 s) in this state
    run(health, clock, 0.75)
    assert health.state == "ready"
    db.result = result("fail", clock.now)
    run(health, clock, 1.0)
    assert health.state == "ready"  # ready for under 2 s: not flipping back yet
    run(health, clock, 1.25)
    assert health.state == "degraded"


async def test_a_failing_non_critical_check_does_not_degrade() -> None:
    health, _ = make()
    cache = health.add(Check("cache", lambda: None, background=False, critical=False))
    clock = Clock()
    cache.result = result("fail", clock.now)
    run(health, clock, 5)
    assert health.state == "ready"


async def test_one_isolated_stall_does_not_degrade() -> None:
    health, _ = make()
    clock = Clock()
    run(health, clock, 3)
    health.tick(clock.advance(4.0), 3.75)  # the loop was held for 4 s, once
    run(health, clock, 1)
    assert health.state == "ready"
    assert health.lag_p99 == 3.75  # on record
    health.tick(clock.advance(1.0), 0.75)  # it recurs within the window: degraded
    assert health.state == "degraded"


async def test_loop_lag_has_separate_enter_and_exit_thresholds() -> None:
    health, _ = make()
    clock = Clock()
    run(health, clock, 3)
    run(health, clock, 1, lateness=0.3)  # above 0.2
    assert health.state == "degraded"
    assert health.reasons[0].startswith("event-loop lag p99 300 ms")
    run(health, clock, WINDOW + 1, lateness=0.15)  # below the threshold, above half
    assert health.state == "degraded"
    run(health, clock, WINDOW + 1, lateness=0.05)
    assert health.state == "ready"


async def test_shedding_more_than_the_fraction_degrades() -> None:
    health, world = make()
    clock = Clock()
    run(health, clock, 3)
    for _ in range(20):  # 60% shed over 5 s
        world["shed"] += 6
        world["finished"] += 4
        run(health, clock, TICK)
    assert health.state == "degraded"
    assert health.reasons == ("admission shed 60% of requests",)
    for _ in range(int(WINDOW / TICK) + 4):  # 30%: below the 50% threshold, above 25%
        world["shed"] += 3
        world["finished"] += 7
        run(health, clock, TICK)
    assert health.state == "degraded"
    for _ in range(int(WINDOW / TICK) + 4):
        world["finished"] += 10
        run(health, clock, TICK)
    assert health.state == "ready"


async def test_shedding_is_not_judged_on_a_handful_of_requests() -> None:
    health, world = make()
    clock = Clock()
    run(health, clock, 3)
    world["shed"] += MIN_REQUESTS - 1
    run(health, clock, 2)
    assert health.state == "ready"


async def test_a_pool_saturated_for_the_window_degrades() -> None:
    health, _ = make()
    pool = {"state": PoolState(2, 2, 0)}
    db = health.add(Check("db", lambda: None, background=False, pool=lambda: pool["state"]))
    clock = Clock()
    db.result = result("pass", clock.now)
    run(health, clock, 3)
    assert health.state == "ready"  # full, nobody waiting: not saturated
    pool["state"] = PoolState(2, 2, 3)
    run(health, clock, 0.75)
    assert health.state == "ready"  # under the 1 s window
    run(health, clock, 0.5)
    assert health.state == "degraded"
    assert health.reasons[0].startswith("pool db saturated for 1.")
    pool["state"] = PoolState(1, 2, 0)
    run(health, clock, 2.25)
    assert health.state == "ready"


async def test_draining_is_final() -> None:
    health, _ = make()
    clock = Clock()
    run(health, clock, 3)
    health.begin_drain()
    assert health.state == "draining"
    assert not health.ready(clock.now)
    run(health, clock, 5)
    assert health.state == "draining"


async def test_a_drain_before_start_up_finished_does_not_pass_the_startup_probe() -> None:
    """Regression: /startupz said 200 once draining, though start-up never finished."""
    health, _ = make()
    db = health.add(Check("db", lambda: None, background=False))
    clock = Clock()
    db.result = result("fail", clock.now)
    run(health, clock, 1)
    assert not health.started_up()
    health.begin_drain()
    run(health, clock, 1)
    assert health.state == "draining"
    assert not health.started_up()


async def test_start_up_once_passed_stays_passed_through_a_drain() -> None:
    health, _ = make()
    clock = Clock()
    run(health, clock, 1)
    assert health.started_up()
    health.begin_drain()
    assert health.started_up()


def test_liveness_and_readiness_from_another_thread() -> None:
    health, _ = make()
    now = time.monotonic()
    assert health.live(now)  # not ticking yet: nothing to judge, alive
    health.last_tick = now
    health.state = "ready"
    assert health.ready(now + 0.5, from_thread=True)
    assert not health.ready(now + 1.5, from_thread=True)  # the loop has not ticked for 1 s
    assert health.ready(now + 1.5)  # on the loop itself, it evidently runs
    assert health.live(now + 9)
    assert not health.live(now + 11)


def test_duplicate_and_wrong_registrations_are_refused() -> None:
    health, _ = make()
    health.add(Check("db", lambda: None))
    with pytest.raises(ValueError, match="already registered"):
        health.add(Check("db", lambda: None))
    with pytest.raises(TypeError, match=r"expected a poise\.health\.Check"):
        health.add(lambda: None)  # type: ignore[arg-type]


async def test_a_pool_reader_that_raises_is_counted_not_fatal() -> None:
    health, _ = make()

    def broken_pool() -> PoolState:
        raise RuntimeError("pool gone")

    db = health.add(Check("db", lambda: None, background=False, pool=broken_pool))
    clock = Clock()
    db.result = result("pass", clock.now)
    run(health, clock, 3)
    assert health.state == "ready"
    assert health._errors.snapshot()["health check db pool"] >= 1


async def test_a_restarted_app_starts_afresh() -> None:
    health, _ = make()
    health.start()
    clock = Clock()
    run(health, clock, 3)
    assert health.state == "ready"
    health.begin_drain()
    await health.stop()
    health.start()  # the same app served again (a second test client, a restart)
    assert (health.state, health.draining) == ("starting", False)
    health.tick(time.monotonic(), 0.0)
    assert health.state == "ready"
    await health.stop()
