"""Admission's queue and its modes, driven directly with a made-up clock.

The clock given to ``Admission`` moves only when a test advances it, and the modes are
driven by ``tick()`` (the health tick) every ``TREND_STEP``. A queued request's timer
is a real loop timer set for the made-up time it has left, re-armed until the made-up
clock has passed its deadline: with the clock standing still, nobody times out. Tests of
the timeouts themselves use the real clock and waits of a few tens of milliseconds.

The limiter is pinned (``min_limit == max_limit``) and its CPU clock stands still, so
the limit is what the test says and the loop never looks busy.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter, deque
from time import perf_counter
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from anyio.abc import TaskGroup

import poise.admission.limiter as limiter_module
from poise._internal import InternalErrors
from poise.admission.controller import (
    FAST_SPAN,
    GROWTH_MIN,
    GROWTH_SHARE,
    GROWTH_SPANS,
    HUNG_LOG_INTERVAL,
    INTERVAL,
    LONG_FACTOR,
    LONG_MIN,
    PROBE_FIRST,
    PROBE_PACE,
    PROBE_PACE_SLACK,
    PROBE_RATIO,
    REGROWTH,
    SLOW_BODY,
    SWEEP_EVERY,
    TREND_STEP,
    Admission,
)
from poise.admission.limiter import GradientLimiter
from poise.admission.policy import CRITICAL, DEFAULT, SHEDDABLE, Policies
from poise.ledger import Ledger, ShedReason
from poise.middleware.core import GONE_CHECK_WAIT, PoiseMiddleware
from poise.middleware.outcome import CLIENT_CLOSED_REQUEST
from poise.routing import RouteTemplates
from tests.middleware.test_ledger import Recorder, request

pytestmark = pytest.mark.anyio

# A hair over TREND_STEP, so that every step is a trend step despite rounding.
STEP = TREND_STEP * 1.01


@pytest.fixture(autouse=True)
def idle_loop_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The limiter's CPU clock stands still: the loop thread never looks busy."""
    monkeypatch.setattr(limiter_module, "time", SimpleNamespace(thread_time=lambda: 0.0))


class Clock:
    """perf_counter seconds that move only when told (ledgers start on the same clock)."""

    def __init__(self) -> None:
        self.now = perf_counter()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


class RecordingLimiter(GradientLimiter):
    """A pinned limiter that keeps the latency samples it is given."""

    def __init__(self, limit: int) -> None:
        super().__init__(min_limit=limit, max_limit=limit)
        self.samples: list[float] = []

    def sample(self, latency: float, in_flight: int, now: float) -> None:
        self.samples.append(latency)
        super().sample(latency, in_flight, now)


def pinned(limit: int, clock: Clock | None = None, **kwargs: Any) -> Admission:
    return Admission(RecordingLimiter(limit), clock=clock or perf_counter, **kwargs)


def limiter_of(admission: Admission) -> RecordingLimiter:
    assert isinstance(admission.limiter, RecordingLimiter)
    return admission.limiter


async def settle() -> None:
    """Let every waiter run until it sleeps (queued) or ends."""
    await anyio.wait_all_tasks_blocked()


class Door:
    """Requests at admission's door: each one admitted at once, or waiting in a task of
    ``group``; refusals are counted as the middleware does."""

    def __init__(self, admission: Admission, group: TaskGroup, clock: Clock | None = None) -> None:
        self.admission = admission
        self.group = group
        self.clock = clock
        self.ledgers: dict[str, Ledger] = {}
        self.outcome: dict[str, str] = {}  # "in", or why not
        self.order: list[str] = []  # in the order they got in
        self.running: deque[str] = deque()  # in, not finished
        self._count = 0

    def send(
        self,
        name: str | None = None,
        priority: int = DEFAULT,
        budget: float | None = None,
        *,
        draining: bool = False,
    ) -> str:
        if name is None:
            self._count += 1
            name = f"r{self._count}"
        ledger = Ledger("GET")
        if self.clock is not None:
            ledger.start = self.clock.now
        self.ledgers[name] = ledger
        if self.admission.try_admit(ledger, priority):
            self._in(name)
        else:
            self.group.start_soon(self._wait, name, priority, budget, draining)
        return name

    async def _wait(
        self,
        name: str,
        priority: int,
        budget: float | None,
        draining: bool,
    ) -> None:
        ledger = self.ledgers[name]
        reason = await self.admission.wait(ledger, priority, budget, draining=draining)
        if reason is None:
            self._in(name)
        else:
            self.outcome[name] = reason
            self.admission.refused(ledger, reason)

    def _in(self, name: str) -> None:
        self.outcome[name] = "in"
        self.order.append(name)
        self.running.append(name)

    def finish(self, name: str | None = None) -> None:
        """The request (the oldest running by default) ends, its response sent."""
        if name is None:
            name = self.running.popleft()
        else:
            self.running.remove(name)
        ledger = self.ledgers[name]
        self.admission.release(ledger, sample=True)
        self.admission.done(ledger)

    def waiting(self) -> list[str]:
        return [name for name in self.ledgers if name not in self.outcome]

    def reasons(self) -> Counter[str]:
        return Counter(reason for reason in self.outcome.values() if reason != "in")


async def step(door: Door, *, arrivals: int, completions: int) -> None:
    """One TREND_STEP of traffic: ``completions`` end, ``arrivals`` come, the tick runs."""
    assert door.clock is not None
    door.clock.advance(STEP)
    for _ in range(min(completions, len(door.running))):
        door.finish()
    for _ in range(arrivals):
        door.send()
    door.admission.tick()
    await settle()


# An open-loop overload: arrivals outpace completions by more than GROWTH_SHARE (and
# GROWTH_MIN per span), every step.
COMPLETIONS = 4
GROWTH = COMPLETIONS + math.ceil(max(GROWTH_MIN / FAST_SPAN, GROWTH_SHARE * COMPLETIONS)) + 1
# Growth is seen once the trend has GROWTH_SPANS spans of FAST_SPAN steps.
STEPS_TO_SHED = GROWTH_SPANS * FAST_SPAN + 1


async def crowd(door: Door, limit: int, queued: int) -> None:
    """``limit`` requests in the app and ``queued`` waiting."""
    for _ in range(limit + queued):
        door.send()
    await settle()
    assert door.admission.in_flight == limit
    assert door.admission.queued == queued


async def grow_until_shed(door: Door) -> int:
    """Open-loop growth until admission sheds; the steps it took."""
    for steps in range(1, 4 * STEPS_TO_SHED):
        await step(door, arrivals=GROWTH, completions=COMPLETIONS)
        if door.admission.mode == "shed":
            return steps
    raise AssertionError("growth never turned into shedding")


# -- hold ----------------------------------------------------------------------------------


async def test_hold_queues_first_come_first_served_as_slots_free() -> None:
    admission = pinned(2, max_wait=5.0)
    async with anyio.create_task_group() as group:
        door = Door(admission, group)
        door.send("x")
        door.send("y")
        for name in "abc":
            door.send(name)
        await settle()
        assert admission.mode == "hold"
        assert (admission.in_flight, admission.queued) == (2, 3)
        door.finish("x")
        await settle()
        assert door.order == ["x", "y", "a"]
        door.finish("y")
        door.finish("a")
        await settle()
    assert door.order == ["x", "y", "a", "b", "c"]
    assert (admission.in_flight, admission.queued) == (2, 0)
    assert door.ledgers["c"].admission_wait > 0
    assert admission.shed_total == 0


@pytest.mark.parametrize(
    ("priority", "max_wait", "expected"),
    [
        pytest.param(DEFAULT, 0.05, 0.05, id="default-up-to-max-wait"),
        pytest.param(SHEDDABLE, 5.0, INTERVAL, id="sheddable-up-to-interval"),
    ],
)
async def test_hold_times_out_after_max_wait(
    priority: int, max_wait: float, expected: float
) -> None:
    admission = pinned(1, max_wait=max_wait)
    assert admission.try_admit(Ledger("GET"), DEFAULT)
    started = perf_counter()
    assert await admission.wait(Ledger("GET"), priority, None) == "queue_timeout"
    waited = perf_counter() - started
    assert expected - 0.001 <= waited < expected + 1.0  # generous: a loaded 2-core machine
    assert admission.queued == 0
    assert admission.in_flight == 1


async def test_a_budget_caps_the_wait() -> None:
    admission = pinned(1, max_wait=5.0)
    assert admission.try_admit(Ledger("GET"), DEFAULT)
    started = perf_counter()
    assert await admission.wait(Ledger("GET"), DEFAULT, 0.05) == "queue_timeout"
    assert perf_counter() - started < 1.0


async def test_a_steady_closed_loop_crowd_stays_held() -> None:
    """Clients that re-send as each answer comes keep the crowd level: its arrival
    (a burst of queued requests) is no growth, and holding them sheds nothing."""
    clock = Clock()
    admission = pinned(10, clock, max_wait=60.0)
    async with anyio.create_task_group() as group:
        door = Door(admission, group, clock)
        await crowd(door, limit=10, queued=20)
        for _ in range(4 * STEPS_TO_SHED):
            await step(door, arrivals=COMPLETIONS, completions=COMPLETIONS)
            assert admission.mode == "hold"
            assert admission.queued == 20
        group.cancel_scope.cancel()
    assert admission.modes_entered == {}
    assert door.reasons() == {}
    assert admission.shed_total == 0


async def test_sustained_growth_sheds_the_backlog_held_so_far() -> None:
    """Open-loop arrivals: the outstanding count rises span after span. Admission turns
    to shedding, and the backlog held so far (older than TARGET) is shed at once as
    queue_timeout; the requests that arrive then wait as CoDel lets them."""
    clock = Clock()
    admission = pinned(10, clock, max_wait=60.0)
    async with anyio.create_task_group() as group:
        door = Door(admission, group, clock)
        await crowd(door, limit=10, queued=2)
        steps = 0
        while True:
            steps += 1
            assert steps < 4 * STEPS_TO_SHED, "growth never turned into shedding"
            clock.advance(STEP)
            for _ in range(COMPLETIONS):
                door.finish()
            fresh = [door.send() for _ in range(GROWTH)]
            held = admission.queued  # all older than this step (the fresh are not queued yet)
            admission.tick()
            if admission.mode == "shed":
                break
            await settle()
            assert door.reasons() == {}  # held until then
        assert STEPS_TO_SHED - 2 <= steps <= STEPS_TO_SHED + 2
        assert admission.queued == 0  # trimmed on the spot
        await settle()
        assert door.reasons()["queue_timeout"] == held
        assert set(door.reasons()) <= {"queue_timeout", "limit"}
        assert admission.stats()["shed_reasons"]["queue_timeout"] == held
        assert any(name in door.waiting() for name in fresh)  # newcomers may wait
        group.cancel_scope.cancel()
    assert admission.modes_entered == {"shed": 1}


# -- shed ----------------------------------------------------------------------------------


@pytest.mark.parametrize("standing", ["congested", "aged"])
async def test_a_standing_queue_sheds_sheddable_and_serves_newest_first(standing: str) -> None:
    """CoDel while shedding: once a queue stands (it has not drained for INTERVAL, or
    the loop is congested), sheddable requests do not wait and the queue is served
    newest first (adaptive LIFO)."""
    clock = Clock()
    admission = pinned(8, clock, max_wait=60.0)
    admission.mode = "shed"
    async with anyio.create_task_group() as group:
        door = Door(admission, group, clock)
        for _ in range(8):
            door.send()
        if standing == "congested":
            limiter_of(admission).congested = True
        else:
            door.send("old")
            await settle()
            clock.advance(INTERVAL * 1.2)  # the queue has not drained since
        door.send("s", SHEDDABLE)
        for name in "abc":
            door.send(name)
            await settle()
        assert admission.mode == "shed"
        assert door.outcome["s"] == "priority"
        assert {"a", "b", "c"} <= set(door.waiting())
        door.finish()
        door.finish()
        await settle()
        assert door.order[-2:] == ["c", "b"]
        assert "a" in door.waiting()
        group.cancel_scope.cancel()


async def test_while_shedding_the_queue_holds_half_the_limit_and_critical_evicts() -> None:
    clock = Clock()
    admission = pinned(4, clock, max_wait=60.0)
    admission.mode = "shed"
    async with anyio.create_task_group() as group:
        door = Door(admission, group, clock)
        for name in ("w", "x", "y", "z", "a", "b", "c"):
            door.send(name)
            await settle()
        assert door.waiting() == ["a", "b"]
        assert door.outcome["c"] == "limit"
        door.send("k", CRITICAL)
        await settle()
        assert door.outcome["b"] == "priority"  # the newest lower-priority one
        door.finish("w")
        await settle()
        assert door.order[-1] == "k"
        group.cancel_scope.cancel()


# -- probes --------------------------------------------------------------------------------


async def test_a_probe_that_finds_a_closed_loop_holds_again() -> None:
    """A burst that looked like growth got a closed-loop crowd shed: each shed request
    comes back at once. Held for a probe, its arrivals drop to the completions: hold."""
    clock = Clock()
    admission = pinned(10, clock, max_wait=60.0)
    resending = math.ceil(COMPLETIONS / PROBE_RATIO) + 2  # shed clients come back at once
    async with anyio.create_task_group() as group:
        door = Door(admission, group, clock)
        await crowd(door, limit=10, queued=2)
        await grow_until_shed(door)
        modes = []
        for _ in range(2 * STEPS_TO_SHED):
            shed = admission.mode == "shed"  # else held: only the answered come back
            await step(door, arrivals=resending if shed else COMPLETIONS, completions=COMPLETIONS)
            modes.append(admission.mode)
        group.cancel_scope.cancel()
    assert "probe" in modes
    assert modes[-1] == "hold"
    assert admission.modes_entered == {"shed": 1, "probe": 1, "hold": 1}


async def test_growth_soon_after_a_closed_verdict_sheds_at_once_and_probes_later() -> None:
    """An open loop whose client ran short of connections while held looks closed to a
    probe (seen at 10x in bench/overload.py). Growth again within REGROWTH proves the
    verdict wrong: one span of it is enough to shed, and the next probe comes twice as
    late instead of as early as the first."""
    clock = Clock()
    admission = pinned(10, clock, max_wait=60.0)
    resending = math.ceil(COMPLETIONS / PROBE_RATIO) + 2
    async with anyio.create_task_group() as group:
        door = Door(admission, group, clock)
        await crowd(door, limit=10, queued=2)
        await grow_until_shed(door)
        while admission.mode != "hold":  # the probe finds the crowd held back: closed
            shed = admission.mode == "shed"
            await step(door, arrivals=resending if shed else COMPLETIONS, completions=COMPLETIONS)
        closed_at = clock.now
        steps = await grow_until_shed(door)
        assert clock.now - closed_at < REGROWTH
        assert steps <= FAST_SPAN + 1  # one span, not GROWTH_SPANS of them
        shed_at = clock.now
        while admission.mode == "shed":
            await step(door, arrivals=GROWTH, completions=COMPLETIONS)
        group.cancel_scope.cancel()
    assert admission.mode == "probe"
    assert 2 * PROBE_FIRST <= clock.now - shed_at < 2 * PROBE_FIRST + 2 * STEP


async def test_a_probe_whose_arrivals_outpace_completions_is_an_open_loop() -> None:
    """Regression (bench/overload.py, a 1x-to-3x step): just after shedding began, the
    loop read the backlog that had piled up unread, so the rate while shedding was twice
    the real one; held for the probe, the arrivals fell below half of it, and an open
    loop was judged closed. Arrivals that still outpace the completions are open."""
    clock = Clock()
    admission = pinned(10, clock, max_wait=60.0)
    # Per step: a drained backlog while shedding, then the real open-loop rate.
    steady = math.ceil((PROBE_PACE * COMPLETIONS / STEP + PROBE_PACE_SLACK) * STEP) + 2
    backlog = math.ceil(steady / PROBE_RATIO) + 2
    async with anyio.create_task_group() as group:
        door = Door(admission, group, clock)
        await crowd(door, limit=10, queued=2)
        await grow_until_shed(door)
        modes = []
        for _ in range(round(2 * PROBE_FIRST / STEP)):
            arrivals = backlog if admission.mode == "shed" else steady
            await step(door, arrivals=arrivals, completions=COMPLETIONS)
            modes.append(admission.mode)
        group.cancel_scope.cancel()
    assert "probe" in modes
    assert "hold" not in modes
    assert admission.modes_entered.get("hold", 0) == 0


async def test_a_probe_that_finds_an_open_loop_sheds_on_and_probes_half_as_often() -> None:
    clock = Clock()
    admission = pinned(10, clock, max_wait=60.0)
    async with anyio.create_task_group() as group:
        door = Door(admission, group, clock)
        await crowd(door, limit=10, queued=2)
        await grow_until_shed(door)
        entered = {"shed": clock.now}
        gaps: list[float] = []
        for _ in range(round(8 * PROBE_FIRST / STEP)):
            before = admission.mode
            await step(door, arrivals=GROWTH, completions=COMPLETIONS)
            if admission.mode != before:
                if admission.mode == "probe":
                    gaps.append(clock.now - entered["shed"])
                entered[admission.mode] = clock.now
            if len(gaps) == 2:
                break
        group.cancel_scope.cancel()
    assert admission.mode == "probe"
    assert admission.modes_entered == {"shed": 2, "probe": 2}
    assert PROBE_FIRST <= gaps[0] < PROBE_FIRST + 2 * STEP
    assert 2 * PROBE_FIRST <= gaps[1] < 2 * PROBE_FIRST + 2 * STEP


# -- shed at once --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ahead", "rate", "priority", "budget", "outcome"),
    [
        pytest.param(0, 10.0, DEFAULT, 0.0, "deadline", id="spent"),
        pytest.param(0, 10.0, DEFAULT, -1.0, "deadline", id="overspent"),
        pytest.param(0, 10.0, DEFAULT, 0.05, "deadline", id="baseline-alone-too-long"),
        pytest.param(0, 10.0, DEFAULT, 0.15, None, id="fits"),
        pytest.param(2, 10.0, DEFAULT, 0.25, "deadline", id="queue-ahead-too-long"),
        pytest.param(2, 10.0, DEFAULT, 0.35, None, id="fits-behind-the-queue"),
        pytest.param(1, 0.0, DEFAULT, 10.0, "deadline", id="no-completion-rate-yet"),
        pytest.param(2, 10.0, CRITICAL, 0.05, None, id="critical-waits-past-expected"),
        pytest.param(0, 10.0, CRITICAL, 0.0, "deadline", id="critical-spent"),
    ],
)
async def test_a_request_that_would_miss_its_deadline_is_shed_at_once(
    ahead: int, rate: float, priority: int, budget: float, outcome: str | None
) -> None:
    """Expected wait (the queue ahead at the completion rate) + baseline latency past
    the budget, or a budget spent already: shed now as ``deadline``, not after waiting."""
    clock = Clock()
    admission = pinned(2, clock, max_wait=60.0)
    limiter = limiter_of(admission)
    limiter.rate = rate
    limiter.long = 0.1
    async with anyio.create_task_group() as group:
        door = Door(admission, group, clock)
        await crowd(door, limit=2, queued=ahead)
        door.send("late", priority, budget)
        await settle()
        assert door.outcome.get("late") == outcome
        assert admission.queued == ahead + (outcome is None)
        group.cancel_scope.cancel()


async def test_nobody_new_waits_while_draining() -> None:
    admission = pinned(1, max_wait=0.05)
    assert admission.try_admit(Ledger("GET"), DEFAULT)
    assert await admission.wait(Ledger("GET"), CRITICAL, None, draining=True) == "draining"
    assert admission.queued == 0


async def test_a_full_queue_sheds_unless_a_lower_priority_can_be_evicted() -> None:
    clock = Clock()
    admission = pinned(2, clock, max_wait=60.0, max_queue=2)
    async with anyio.create_task_group() as group:
        door = Door(admission, group, clock)
        for name, priority in [
            ("x", DEFAULT),
            ("y", DEFAULT),
            ("a", DEFAULT),
            ("s", SHEDDABLE),
            ("b", DEFAULT),  # full: evicts the sheddable one
            ("c", DEFAULT),  # full of defaults: nothing lower to evict
            ("t", SHEDDABLE),  # nothing lower either
            ("k", CRITICAL),  # evicts the newest default
        ]:
            door.send(name, priority)
            await settle()
        shed = {"s": "priority", "b": "priority", "c": "limit", "t": "limit"}
        assert door.outcome == {"x": "in", "y": "in", **shed}
        door.finish("x")
        door.finish("y")
        await settle()
        group.cancel_scope.cancel()
    assert door.order == ["x", "y", "k", "a"]  # critical first
    assert admission.shed_reasons == {"priority": 2, "limit": 2}


# -- observe mode --------------------------------------------------------------------------


def test_observe_mode_admits_everything_and_counts_what_it_would_have_done() -> None:
    clock = Clock()
    admission = pinned(2, clock, observe=True)
    limiter = limiter_of(admission)
    assert all(admission.try_admit(Ledger("GET"), DEFAULT) for _ in range(5))
    assert admission.would_queue == 3
    assert not admission.would_shed  # holding, loop not congested: all would have waited
    limiter.congested = True
    assert admission.try_admit(Ledger("GET"), SHEDDABLE)
    assert admission.try_admit(Ledger("GET"), CRITICAL)
    stats = admission.stats()
    assert stats["mode"] == "observe"
    assert stats["in_flight"] == 7
    assert stats["queued"] == 0
    assert stats["would_queue_total"] == 5
    assert stats["would_shed_reasons"] == {"priority": 1}  # the critical one never
    assert stats["shed_total"] == 0


def test_observe_mode_sees_growth_but_never_trims_nor_probes() -> None:
    clock = Clock()
    admission = pinned(10, clock, observe=True)
    running: deque[Ledger] = deque()

    def arrive() -> None:
        ledger = Ledger("GET")
        ledger.start = clock.now
        assert admission.try_admit(ledger, DEFAULT)
        running.append(ledger)

    for _ in range(10):
        arrive()
    steps = 0
    while admission.mode == "hold":
        steps += 1
        assert steps < 4 * STEPS_TO_SHED, "growth never seen"
        clock.advance(STEP)
        for _ in range(COMPLETIONS):
            ledger = running.popleft()
            admission.release(ledger, sample=True)
            admission.done(ledger)
        for _ in range(GROWTH):
            arrive()
        admission.tick()
    for _ in range(round(2 * PROBE_FIRST / STEP) + 1):
        clock.advance(STEP)
        for _ in range(COMPLETIONS):
            ledger = running.popleft()
            admission.release(ledger, sample=True)
            admission.done(ledger)
        for _ in range(GROWTH):
            arrive()
        admission.tick()
    assert admission.mode == "shed"
    assert admission.modes_entered == {"shed": 1}
    assert admission.would_shed["limit"] > 0  # once the queue it would have had stood
    assert admission.shed_total == 0
    assert admission.in_flight == len(running)


# -- requests that are not load ------------------------------------------------------------


async def test_a_slow_upload_gives_its_slot_to_a_queued_request() -> None:
    clock = Clock()
    admission = pinned(1, clock, max_wait=60.0)
    async with anyio.create_task_group() as group:
        door = Door(admission, group, clock)
        door.send("upload")
        admission.reading[door.ledgers["upload"]] = clock.now  # waiting for body bytes
        door.send("next")
        await settle()
        clock.advance(SLOW_BODY * 0.9)
        admission.tick()
        await settle()
        assert door.waiting() == ["next"]
        clock.advance(SLOW_BODY * 0.2 + SWEEP_EVERY)
        admission.tick()
        await settle()
        assert door.outcome["next"] == "in"
        stats = admission.stats()
        assert (stats["in_flight"], stats["long_lived_in_flight"]) == (1, 1)
        assert stats["released_early"] == {"slow_body": 1}
        door.finish("upload")
        assert admission.stats()["long_lived_in_flight"] == 0
        assert not admission.reading
        group.cancel_scope.cancel()
    assert limiter_of(admission).samples == []  # its time was the client's, not load


@pytest.mark.parametrize(
    ("baseline", "after"),
    [
        pytest.param(None, LONG_MIN, id="at-least-long-min"),
        pytest.param(5 * LONG_MIN / LONG_FACTOR, 5 * LONG_MIN, id="long-factor-x-baseline"),
    ],
)
async def test_a_long_running_request_gives_its_slot_to_a_queued_request(
    baseline: float | None, after: float
) -> None:
    clock = Clock()
    admission = pinned(1, clock, max_wait=60.0)
    limiter_of(admission).long = baseline
    async with anyio.create_task_group() as group:
        door = Door(admission, group, clock)
        door.send("long")
        door.send("next")
        await settle()
        clock.advance(after * 0.99)
        admission.tick()
        await settle()
        assert door.waiting() == ["next"]
        clock.advance(after * 0.02)
        admission.tick()
        await settle()
        assert door.outcome["next"] == "in"
        stats = admission.stats()
        assert (stats["in_flight"], stats["long_lived_in_flight"]) == (1, 1)
        assert stats["released_early"] == {"long_lived": 1}
        group.cancel_scope.cancel()


async def test_a_long_running_request_keeps_its_slot_while_the_loop_is_congested() -> None:
    """The loop has no room: releasing the slot would only add load."""
    clock = Clock()
    admission = pinned(1, clock, max_wait=60.0)
    limiter_of(admission).congested = True
    async with anyio.create_task_group() as group:
        door = Door(admission, group, clock)
        door.send("long")
        door.send("next")
        await settle()
        clock.advance(2 * LONG_MIN)
        admission.tick()
        await settle()
        assert door.waiting() == ["next"]
        assert admission.stats()["released_early"] == {}
        group.cancel_scope.cancel()


async def test_a_long_running_request_keeps_its_slot_while_the_thread_pool_is_starved() -> None:
    """A sync-session deadlock: the loop is idle, but the requests wait for threads.
    Releasing them would let ever more work into the stuck pool."""
    clock = Clock()
    starved = [True]
    admission = pinned(1, clock, max_wait=60.0, pool_starved=lambda: starved[0])
    async with anyio.create_task_group() as group:
        door = Door(admission, group, clock)
        door.send("long")
        door.send("next")
        await settle()
        clock.advance(2 * LONG_MIN)
        admission.tick()
        await settle()
        assert door.waiting() == ["next"]
        assert admission.stats()["released_early"] == {}
        starved[0] = False  # the pool recovered: the old rule applies again
        clock.advance(0.1)
        admission.tick()
        await settle()
        assert door.outcome["next"] == "in"
        assert admission.stats()["released_early"] == {"long_lived": 1}
        group.cancel_scope.cancel()


async def test_hung_requests_are_marked_counted_listed_and_logged_once_per_route(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    admission = pinned(
        8, clock, hung_after=5.0, route_label=lambda ledger: f"{ledger.method} {ledger.route}"
    )
    ledgers: dict[str, Ledger] = {}

    def arrive(name: str, route: str) -> None:
        ledger = ledgers[name] = Ledger("GET")
        ledger.start, ledger.route = clock.now, route
        assert admission.try_admit(ledger, DEFAULT)

    arrive("a", "/a")
    arrive("b", "/a")
    arrive("c", "/b")
    with caplog.at_level(logging.WARNING, logger="poise"):
        clock.advance(4.9)
        admission.tick()
        assert admission.hung_total == 0
        clock.advance(0.2)
        admission.tick()
        assert [ledger.hung for ledger in ledgers.values()] == [True, True, True]
        assert admission.hung_total == 3
        clock.advance(1.0)
        admission.tick()
        assert admission.hung_total == 3  # reported once each
        admission.done(ledgers["c"])
        hung = admission.stats()["hung"]
        assert sorted(entry["route"] for entry in hung) == ["GET /a", "GET /a"]
        assert all(entry["age_s"] == pytest.approx(6.1) for entry in hung)
        arrive("d", "/a")
        clock.advance(5.1)
        admission.tick()  # hung too, but /a was logged less than HUNG_LOG_INTERVAL ago
        assert admission.hung_total == 4
        clock.advance(HUNG_LOG_INTERVAL)
        arrive("e", "/a")
        clock.advance(5.1)
        admission.tick()
    logged = [record.getMessage() for record in caplog.records if record.name == "poise"]
    assert len(logged) == 3
    assert ["GET /a" in message for message in logged] == [True, False, True]
    assert ["GET /b" in message for message in logged] == [False, True, False]
    assert admission.hung_total == 5


async def test_no_hung_reports_without_hung_after() -> None:
    clock = Clock()
    admission = pinned(1, clock, hung_after=None)
    ledger = Ledger("GET")
    ledger.start = clock.now
    assert admission.try_admit(ledger, DEFAULT)
    clock.advance(3600.0)
    admission.tick()
    assert not ledger.hung
    assert admission.hung_total == 0


# -- leaving the queue ---------------------------------------------------------------------


async def test_a_waiter_cancelled_from_outside_leaves_no_trace() -> None:
    """Regression: a queued request cancelled by its server (or an outer timeout) must
    not stay queued, nor keep the slot it was handed just before."""
    admission = pinned(2, max_wait=60.0)
    holders = [Ledger("GET"), Ledger("GET")]
    assert all(admission.try_admit(ledger, DEFAULT) for ledger in holders)

    queued = asyncio.create_task(admission.wait(Ledger("GET"), DEFAULT, None))
    await settle()
    queued.cancel()  # cancelled while queued
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert (admission.queued, admission.in_flight) == (0, 2)

    handed = asyncio.create_task(admission.wait(Ledger("GET"), DEFAULT, None))
    await settle()
    admission.release(holders[0], sample=True)  # the slot goes to the waiter...
    assert admission.in_flight == 2
    handed.cancel()  # ...which is cancelled before it could start
    with pytest.raises(asyncio.CancelledError):
        await handed
    assert (admission.queued, admission.in_flight) == (0, 1)  # the slot came back
    assert admission.try_admit(Ledger("GET"), DEFAULT)


# -- through the middleware ----------------------------------------------------------------


DISCONNECT = {"type": "http.disconnect"}


def guarded(app: Any, admission: Admission, *sinks: Any) -> PoiseMiddleware:
    templates = RouteTemplates(app)
    policies = Policies(templates, rules=(), default_deadline=None, deadline_header=None)
    return PoiseMiddleware(
        app,
        templates=templates,
        sinks=list(sinks),
        errors=InternalErrors(),
        admission=admission,
        policies=policies,
    )


async def test_a_client_that_left_while_queued_is_not_served() -> None:
    """A body-less request that waited GONE_CHECK_WAIT or more is checked before it
    enters the app: its client gone, nothing runs and nothing is sent, its slot goes to
    the next in the queue, and it is recorded as a 499 and counted as abandoned. One
    whose client is still there gets the messages the check read, in order."""
    gate = anyio.Event()
    bodies: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await gate.wait()
        bodies.append(await receive())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    admission = pinned(1, max_wait=2.0)
    recorder = Recorder()
    middleware = guarded(app, admission, recorder)
    sent: dict[str, list[Any]] = {}

    async def client(name: str, messages: list[Any] | None = None) -> None:
        sent[name] = await request(middleware, messages)

    async with anyio.create_task_group() as group:
        group.start_soon(client, "first")
        await settle()
        group.start_soon(client, "leaves", [{"type": "http.request"}, DISCONNECT])
        await settle()
        group.start_soon(client, "stays")
        await settle()
        assert admission.queued == 2
        await anyio.sleep(GONE_CHECK_WAIT * 1.5)
        gate.set()
    assert sent["leaves"] == []
    assert [len(sent["first"]), len(sent["stays"])] == [2, 2]
    assert [body["type"] for body in bodies] == ["http.request", "http.request"]
    assert admission.stats()["abandoned_in_queue"] == 1
    assert (admission.in_flight, admission.queued) == (0, 0)
    gone = [ledger for ledger in recorder.ledgers if ledger.outcome == "client_disconnected"]
    assert [ledger.status for ledger in gone] == [CLIENT_CLOSED_REQUEST]
    assert len(limiter_of(admission).samples) == 2  # the one that left is no sample


async def test_a_client_that_leaves_is_no_latency_sample_and_frees_its_slot() -> None:
    """Client disconnects are not failures: no latency sample, no back-off."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        while message["type"] != "http.disconnect" and message.get("more_body"):
            message = await receive()
        if message["type"] == "http.disconnect":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    admission = pinned(4)
    middleware = guarded(app, admission)
    await request(middleware)
    assert len(limiter_of(admission).samples) == 1  # an answered request is a sample
    await request(middleware, [{"type": "http.request", "more_body": True}, DISCONNECT])
    assert len(limiter_of(admission).samples) == 1  # the client that left is not
    assert admission.in_flight == 0
    assert admission.finished_total == 2


# -- counting ------------------------------------------------------------------------------


STATS_KEYS = [
    "mode",
    "queue_mode",
    "limit",
    "in_flight",
    "long_lived_in_flight",
    "queued",
    "shed_total",
    "shed_reasons",
    "would_shed_reasons",
    "released_early",
    "hung_total",
    "abandoned_in_queue",
    "hung",
    "modes_entered",
    "loop_congested",
    "warming_up",
]


def test_stats_say_the_mode_and_count_each_shed_reason() -> None:
    admission = pinned(4)
    reasons: list[ShedReason] = ["limit", "priority", "limit", "deadline"]
    for reason in reasons:
        admission.refused(Ledger("GET"), reason)
    admission.expired()
    stats = admission.stats()
    assert set(STATS_KEYS) <= set(stats)
    assert (stats["mode"], stats["queue_mode"], stats["limit"]) == ("enforce", "hold", 4)
    assert stats["shed_total"] == 4
    assert stats["shed_reasons"] == {"deadline": 1, "limit": 2, "priority": 1}
    assert list(stats["shed_reasons"]) == sorted(stats["shed_reasons"])
    assert stats["deadline_total"] == 1


def test_without_a_limiter_everything_is_admitted_and_counted() -> None:
    admission = Admission(None)
    ledgers = [Ledger("GET") for _ in range(100)]
    assert all(admission.try_admit(ledger, SHEDDABLE) for ledger in ledgers)
    admission.tick()
    stats = admission.stats()
    assert (stats["enabled"], stats["mode"], stats["queue_mode"]) == (False, "off", None)
    assert stats["in_flight"] == 100
    for ledger in ledgers:
        admission.release(ledger, sample=True)
        admission.done(ledger)
    assert admission.stats()["in_flight"] == 0
    assert admission.finished_total == 100


@pytest.mark.parametrize(
    ("queued", "short", "limit", "base"),
    [
        pytest.param(0, 0.03, 8, 1, id="fast-app"),
        pytest.param(25, 0.2, 50, 1, id="half-full-queue"),
        pytest.param(5, 3.0, 4, 5, id="slow-app"),
    ],
)
async def test_retry_after_is_the_drain_time_spread_over_more_than_one_second(
    queued: int, short: float, limit: int, base: int
) -> None:
    clock = Clock()
    admission = pinned(limit, clock, max_wait=60.0)
    limiter_of(admission).short = short
    async with anyio.create_task_group() as group:
        door = Door(admission, group, clock)
        await crowd(door, limit=limit, queued=queued)
        draws = {admission.retry_after() for _ in range(400)}
        group.cancel_scope.cancel()
    assert min(draws) == base
    assert max(draws) <= base + max(1, base // 2)
    assert len(draws) >= 2  # jittered: shed clients do not all come back in the same second
