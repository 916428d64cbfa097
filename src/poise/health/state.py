"""The app's health: the check registry, readiness with hysteresis, liveness, drain.

Everything a probe reads is kept here by the loop thread, so an answer costs a few
attribute reads: a ticker task wakes every :data:`TICK` seconds, measures its own
lateness (the loop lag), samples pool and admission counters, starts background check
runs that are due, and re-evaluates readiness. The probe port's thread reads the same
plain attributes (each read is atomic under the GIL; it needs no more).

Readiness moves ``starting -> ready <-> degraded``, and to ``draining`` for good:

* ``starting`` until the app's lifespan start-up finished and every critical check has
  passed once;
* ``degraded`` (503) while a critical check fails, a tracked pool stays saturated for
  ``ready_pool_window``, the loop lag p99 over the last :data:`WINDOW` seconds exceeds
  ``ready_max_lag`` (at least :data:`LAG_RECURS` late heartbeats: one isolated stall
  is not enough), admission sheds more than ``ready_max_shed`` of the requests, or
  another part of poise says so (the thread pool's deadlock); lag and shedding must
  fall below half their threshold to count as recovered;
* a change between ``ready`` and ``degraded`` needs ``ready_hold`` seconds in the
  current state, so a borderline signal does not flap the endpoint;
* ``draining`` once shutdown began: never ready again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from poise._internal import InternalErrors
from poise.health.checks import Check, CheckFunction, worst
from poise.loop.lag import LagMeter

__all__ = ["LAG_RECURS", "TICK", "WINDOW", "Health", "HealthLimits", "State"]

logger = logging.getLogger("poise")

State = Literal["starting", "ready", "degraded", "draining"]

#: How often the ticker runs; its lateness is the health view of the loop lag.
TICK: Final = 0.25
#: Lag and shedding are judged over this many seconds.
WINDOW: Final = 10.0
#: Lag makes the app not ready once this many heartbeats in the window were that late.
LAG_RECURS: Final = 2
#: Shedding is judged only once the window holds this many requests.
MIN_REQUESTS: Final = 20
#: Still starting this long after start-up began (a critical check has not passed) is
#: logged, with the checks' reasons; then again at most every CHECK_LOG_INTERVAL. The
#: default of the starting_warn_after setting.
STARTING_WARN_AFTER: Final = 10.0
#: A critical check that fails is logged at once, and again at most this often while
#: it keeps failing.
CHECK_LOG_INTERVAL: Final = 60.0


@dataclass(frozen=True, slots=True)
class HealthLimits:
    """The thresholds readiness and liveness use (from Settings)."""

    live_loop_stuck: float = 10.0
    ready_max_lag: float = 0.5
    ready_max_shed: float = 0.5
    ready_pool_window: float = 1.0
    ready_hold: float = 2.0
    starting_warn_after: float = STARTING_WARN_AFTER


class Health:
    """Checks, readiness and drain state of one app.

    Args:
        limits: thresholds.
        started: whether the app's lifespan start-up has finished.
        shedding: ``() -> (shed_total, finished_total)`` of admission, or ``None``.
        errors: where poise's own failures go.
        lag: the loop-lag meter readiness judges (one is made when omitted).
        feeds_lag: the ticker's own lateness feeds ``lag`` (when nothing else does:
            the loop monitor's heartbeat is off).
        on_tick: called on every tick (admission's and the thread pool's clocks).
        unready: more reasons to be not ready now (each returns one or ``None``).
    """

    def __init__(
        self,
        limits: HealthLimits,
        *,
        started: Callable[[], bool],
        shedding: Callable[[], tuple[int, int]] | None,
        errors: InternalErrors,
        lag: LagMeter | None = None,
        feeds_lag: bool = True,
        on_tick: Sequence[Callable[[], None]] = (),
        unready: Sequence[Callable[[], str | None]] = (),
    ) -> None:
        self.limits = limits
        self._started = started
        self._shedding = shedding
        self._errors = errors
        self.lag = LagMeter(TICK) if lag is None else lag
        self._feeds_lag = feeds_lag
        self._on_tick = tuple(on_tick)
        self._unready = tuple(unready)
        self.checks: dict[str, Check] = {}
        self._passed_once: set[str] = set()
        # When each failing critical check was last logged (time.monotonic()).
        self._failing_logged: dict[str, float] = {}
        self._starting_logged = 0.0
        # Readiness, written by the loop thread only.
        self.state: State = "starting"
        self.since = time.monotonic()
        self.reasons: tuple[str, ...] = ("the app has not finished starting",)
        self.draining = False
        # Start-up finished and every critical check passed once (never undone: a drain
        # that begins before that does not make /startupz say it happened).
        self.started = False
        # Signals.
        self.last_tick = 0.0  # time.monotonic() of the last tick; 0: not ticking
        self._shed_samples: deque[tuple[float, int, int]] = deque(maxlen=int(WINDOW / TICK) + 8)
        self._lag_high = False
        self._shed_high = False
        self._saturated_since: dict[str, float] = {}
        self.pool_saturated: dict[str, bool] = {}
        self.lag_p99 = 0.0
        self.shed_fraction = 0.0
        self._ticker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._refresh_pending = False
        # An event loop other than asyncio's: nothing runs (see start).
        self.passive = False

    # -- registry -----------------------------------------------------------------------

    def add(self, check: Check) -> Check:
        """Register ``check``; its name must be new. Returns it."""
        if not isinstance(check, Check):
            raise TypeError(f"expected a poise.health.Check, got {type(check).__name__}")
        if check.name in self.checks:
            raise ValueError(f"a health check named {check.name!r} is already registered")
        self.checks[check.name] = check
        return check

    def check(
        self,
        name: str,
        *,
        critical: bool = True,
        timeout: float = 1.0,
        ttl: float = 5.0,
        background: bool = True,
    ) -> Callable[[CheckFunction], CheckFunction]:
        """Decorator form of :meth:`add` for a plain function."""

        def register(function: CheckFunction) -> CheckFunction:
            self.add(Check(name, function, critical=critical, timeout=timeout, ttl=ttl,
                           background=background))  # fmt: skip
            return function

        return register

    # -- life cycle (loop thread) ---------------------------------------------------------

    def start(self, *, passive: bool = False) -> None:
        """Start the ticker on the running loop (at poise's start-up).

        ``passive``: an event loop other than asyncio's (trio): no ticker and no check
        runs (both need asyncio); readiness follows the lifespan alone, and the checks
        are reported as not run.
        """
        self.passive = passive
        if passive:
            self._reset(time.monotonic())
            return
        if self._ticker is not None:
            return
        now = time.monotonic()
        self._reset(now)
        self._loop = asyncio.get_running_loop()
        self.last_tick = now
        self._ticker = self._loop.create_task(self._tick_forever(), name="poise health")

    def _reset(self, now: float) -> None:
        # A fresh life: an app can be started again after a shutdown (test clients do).
        self.draining = False
        for check in self.checks.values():
            check.result = None  # judged again in this life: the dependency may be gone
            check._flight = None
        self._passed_once.clear()
        self._failing_logged.clear()
        self._starting_logged = 0.0
        if self._feeds_lag:
            self.lag.reset()
        self._shed_samples.clear()
        self._saturated_since.clear()
        self._lag_high = self._shed_high = False
        self._refresh_pending = False
        self.state, self.since = "starting", now
        self.reasons = ("the app has not finished starting",)

    async def stop(self) -> None:
        """Stop the ticker and close what built-in checks opened."""
        await self.halt()
        for check in self.checks.values():
            if check.close is not None:
                try:
                    await check.close()
                except Exception as exc:
                    self._errors.report(f"health check {check.name} close", exc)

    async def halt(self) -> None:
        """Stop running checks: no new run starts, runs in progress are cancelled and
        awaited. Called when the app's shutdown begins, so no check opens a connection
        on a pool the app is closing."""
        self._loop = None  # the probe port can no longer start runs
        if self.passive:
            return  # nothing runs: no ticker, no check runs
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        self.last_tick = 0.0
        loop = asyncio.get_running_loop()
        flights = [
            c._flight
            for c in self.checks.values()
            if c._flight is not None and not c._flight.done() and c._flight.get_loop() is loop
        ]
        # A run still using a client or a pool must be over before either closes. Let
        # runs finish (a SELECT 1 takes milliseconds; cancelling one half-way through a
        # connect can leak the connection), and cancel only those still going after
        # their timeout.
        if flights:
            grace = max(c.timeout for c in self.checks.values())
            _, pending = await asyncio.wait(flights, timeout=grace)
            for flight in pending:
                flight.cancel()
            await asyncio.gather(*flights, return_exceptions=True)

    def kick(self) -> None:
        """The app has started: run at once every background check that has not passed
        (it may have run before the app made what it checks), then re-evaluate."""
        now = time.monotonic()
        for check in self.checks.values():
            if self.passive:
                break
            result = check.result
            stale = result is None or result.status == "fail" or not check.fresh(now)
            if check.background and stale and not check.running:
                check.refresh().add_done_callback(self._check_done)
        self.evaluate(now)

    def begin_drain(self) -> None:
        """Shutdown begins: not ready from now on, whatever the checks say."""
        self.draining = True
        self._set("draining", ("the process is shutting down",), time.monotonic())

    async def _tick_forever(self) -> None:
        due = time.monotonic()
        while True:
            due += TICK
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            now = time.monotonic()
            lateness = max(0.0, now - due)
            if lateness > TICK:
                due = now  # do not try to catch up after a block
            try:
                self.tick(now, lateness)
            except Exception as exc:
                self._errors.report("health ticker", exc)

    def tick(self, now: float, lateness: float) -> None:
        """One round: sample the signals, start due background checks, re-evaluate."""
        self.last_tick = now
        if self._feeds_lag:
            self.lag.beat(now, lateness)
        for hook in self._on_tick:
            try:
                hook()
            except Exception as exc:
                self._errors.report(getattr(hook, "__qualname__", repr(hook)), exc)
        if self._shedding is not None:
            shed, finished = self._shedding()
            self._shed_samples.append((now, shed, finished))
        for check in self.checks.values():
            if check.background and not check.running and not check.fresh(now):
                check.refresh().add_done_callback(self._check_done)
            if check.pool is not None:
                try:
                    self._sample_pool(check, now)
                except Exception as exc:  # a user's pool reader: not ours to crash on
                    self._errors.report(f"health check {check.name} pool", exc)
        self.evaluate(now)

    def _check_done(self, task: asyncio.Task[Any]) -> None:
        # Re-evaluate at once, so a failing check shows without waiting for a tick.
        if not task.cancelled():
            self.evaluate(time.monotonic())

    def _sample_pool(self, check: Check, now: float) -> None:
        assert check.pool is not None
        state = check.pool()
        saturated = state is not None and state.saturated
        if saturated:
            self._saturated_since.setdefault(check.name, now)
        else:
            self._saturated_since.pop(check.name, None)
        self.pool_saturated[check.name] = saturated

    def refresh_stale(self) -> None:
        """Start runs of on-demand checks whose results expired (no waiting)."""
        self._refresh_pending = False
        if self._ticker is None:
            return  # stopped (or not started): nothing may start runs
        now = time.monotonic()
        for check in self.checks.values():
            if not check.running and not check.fresh(now):
                check.refresh().add_done_callback(self._check_done)

    def refresh_stale_threadsafe(self) -> None:
        """:meth:`refresh_stale`, asked from another thread (the probe port)."""
        loop = self._loop
        if loop is None or self._refresh_pending:
            return
        self._refresh_pending = True
        with contextlib.suppress(RuntimeError):  # the loop has closed
            loop.call_soon_threadsafe(self.refresh_stale)

    async def refresh_on_demand(self) -> None:
        """Bring every on-demand check up to date (single-flight; each waits its timeout)."""
        if self.passive or (self.draining and self._ticker is None):
            # Halted for the shutdown (the app is closing what checks would use), or no
            # check can run on this event loop.
            return
        now = time.monotonic()
        due = [c for c in self.checks.values() if not c.background and not c.fresh(now)]
        if not due:
            return
        await asyncio.gather(*(c.current() for c in due), return_exceptions=True)
        self.evaluate(time.monotonic())

    # -- judging (loop thread) ------------------------------------------------------------

    def evaluate(self, now: float) -> State:
        """Re-judge readiness from the latest signals and check results."""
        if self.draining:
            return self.state
        if not self._started():
            self._set("starting", ("the app has not finished starting",), now)
            return self.state
        for check in self.checks.values():
            if check.result is not None and check.result.status != "fail":
                self._passed_once.add(check.name)
        self._log_failing_checks(now)
        if self.state == "starting" and self.passive:
            self.started = True  # no check can run: the lifespan alone says started
            self._set("ready", (), now)
        if self.state == "starting":
            waiting = [
                f"check {c.name} has not passed yet"
                + (f" ({c.result.output})" if c.result is not None and c.result.output else "")
                for c in self.checks.values()
                if c.critical and c.name not in self._passed_once
            ]
            if waiting:
                self.reasons = tuple(waiting)
                if now - self.since >= self.limits.starting_warn_after and (
                    not self._starting_logged or now - self._starting_logged >= CHECK_LOG_INTERVAL
                ):
                    self._starting_logged = now
                    logger.warning("poise: still starting after %.0f s, not ready: %s",
                                   now - self.since, "; ".join(waiting))  # fmt: skip
                return self.state
            self.started = True
            self._set("ready", (), now)
        reasons = self._failing(now)
        if self.state == "ready" and reasons and now - self.since >= self.limits.ready_hold:
            self._set("degraded", reasons, now)
        elif self.state == "degraded":
            if not reasons and now - self.since >= self.limits.ready_hold:
                self._set("ready", (), now)
            else:
                self.reasons = reasons
        return self.state

    def _log_failing_checks(self, now: float) -> None:
        """A critical check that fails: a warning with its reason at once, then at most
        every CHECK_LOG_INTERVAL while it keeps failing; a line when it passes again."""
        logged = self._failing_logged
        for check in self.checks.values():
            result = check.result
            if not check.critical or result is None:
                continue
            if result.status == "fail":
                last = logged.get(check.name)
                if last is None or now - last >= CHECK_LOG_INTERVAL:
                    logged[check.name] = now
                    logger.warning("poise: critical check %s failed: %s", check.name,
                                   result.output or "no reason given")  # fmt: skip
            elif logged.pop(check.name, None) is not None:
                logger.info("poise: critical check %s passes again", check.name)

    def _failing(self, now: float) -> tuple[str, ...]:
        limits = self.limits
        reasons = []
        for check in self.checks.values():
            result = check.result
            if check.critical and result is not None and result.status == "fail":
                reasons.append(f"check {check.name} failed: {result.output or 'no reason'}")
        for name, since in self._saturated_since.items():
            if now - since >= limits.ready_pool_window:
                reasons.append(f"pool {name} saturated for {now - since:.1f} s")
        # The meter's clock: this ticker's when it feeds it, the monitor's otherwise.
        lags = self.lag.window(WINDOW, now if self._feeds_lag else None)
        self.lag_p99 = _p99(lags)
        exit_lag = limits.ready_max_lag / 2
        if self._lag_high:
            self._lag_high = self.lag_p99 > exit_lag
        else:
            # p99 of 40 ticks is their maximum: one isolated stall would take the app
            # out for the whole window. Lag counts once it recurs (two late beats).
            late = sum(1 for lag in lags if lag > limits.ready_max_lag)
            self._lag_high = late >= LAG_RECURS
        if self._lag_high:
            reasons.append(f"event-loop lag p99 {self.lag_p99 * 1e3:.0f} ms")
        self.shed_fraction = self._shed_over_window(now)
        exit_shed = limits.ready_max_shed / 2
        threshold = exit_shed if self._shed_high else limits.ready_max_shed
        self._shed_high = self.shed_fraction > threshold
        if self._shed_high:
            reasons.append(f"admission shed {self.shed_fraction:.0%} of requests")
        for source in self._unready:
            try:
                reason = source()
            except Exception as exc:
                self._errors.report("readiness source", exc)
                continue
            if reason is not None:
                reasons.append(reason)
        return tuple(reasons)

    def _shed_over_window(self, now: float) -> float:
        samples = self._shed_samples
        if len(samples) < 2:
            return 0.0
        horizon = now - WINDOW
        first = next((s for s in samples if s[0] >= horizon), samples[-1])
        shed = samples[-1][1] - first[1]
        total = shed + samples[-1][2] - first[2]
        return shed / total if total >= MIN_REQUESTS else 0.0

    def _set(self, state: State, reasons: tuple[str, ...], now: float) -> None:
        if state != self.state:
            logger.info("poise: readiness %s -> %s%s", self.state, state,
                        f" ({'; '.join(reasons)})" if reasons else "")  # fmt: skip
            self.since = now
        self.state = state
        self.reasons = reasons

    # -- reading (any thread) ------------------------------------------------------------

    def loop_stuck_for(self, now: float) -> float:
        """Seconds the loop has not come back (0 when it ticks, or before start-up)."""
        last = self.last_tick
        return 0.0 if not last else max(0.0, now - last - TICK)

    def live(self, now: float) -> bool:
        return self.loop_stuck_for(now) < self.limits.live_loop_stuck

    def ready(self, now: float, *, from_thread: bool = False) -> bool:
        """Whether to take traffic. From another thread, a loop that has not ticked for
        a second (or twice ``ready_max_lag``) is not ready either: it cannot serve."""
        if self.draining or self.state != "ready":
            return False
        if from_thread:
            return self.loop_stuck_for(now) < max(1.0, 2 * self.limits.ready_max_lag)
        return True

    def started_up(self) -> bool:
        return self.started

    def checks_status(self, names: Iterable[str] | None = None) -> str:
        chosen = self.checks.values() if names is None else (self.checks[n] for n in names)
        return worst(
            (c.result.status if c.critical else "warn" if c.result.status != "pass" else "pass")
            for c in chosen
            if c.result is not None
        )


def _p99(values: Iterable[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
