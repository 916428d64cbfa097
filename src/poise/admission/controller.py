"""Admission: who gets into the app now, who waits, who is shed, and why.

A request is admitted at once while fewer than ``limit`` are in the app. Otherwise it
waits in a queue, and how it waits depends on what kind of crowd is at the door:

- **Hold** (the default). Clients that wait for an answer before sending again (other
  services with connection pools, browsers, load testers: a *closed loop*) bound the
  crowd themselves: while the app keeps completing requests as fast as they arrive,
  the queue is as long as the crowd and no longer. Shedding such a crowd does not
  lighten it: a client re-sends the instant it gets a 503, the loop spends itself
  answering 503s, and goodput collapses. So the queue holds them, first come first
  served, up to ``max_wait`` (and never past a request's deadline): a request that
  waits paces its client.
- **Shed** (CoDel). When the crowd is not bounded (arrivals above the service rate:
  an *open loop*), the queue grows without end and holding only makes everyone late.
  The sign is sustained growth: the requests in admission's hands (in the app plus
  queued) rise in each of :data:`GROWTH_SPANS` consecutive spans, by a share of the
  span's completions (arrivals outpacing completions by 25 % for 0.75 s, or by 10 %
  for 3 s). A closed-loop crowd arriving rises once and then stays level. Then the
  backlog held so far is shed, and the queue works as CoDel: only while it has drained
  within the last ``INTERVAL`` may a request wait up to ``INTERVAL``; once a standing
  queue has formed, a request waits at most ``TARGET`` and the queue is served newest
  first (adaptive LIFO), so those who get in are still worth answering.
- **Probe**. A closed-loop crowd that was shed (by a burst that looked like growth)
  looks exactly like an open-loop one from inside: each shed request comes back at
  once. So, every so often while shedding, admission holds again for one probe
  window and compares the arrival rate with the rate while shedding and with the
  completions: a crowd whose arrivals drop when it is held, to about its completions,
  is closed (hold on); an open one keeps arriving faster than it completes (shed on,
  and probe less often).

A request is shed at once (no queueing) when it would miss its deadline anyway
(expected wait + baseline latency past its budget), when the queue is at
``max_queue``, while shutting down (``draining``), and ``sheddable`` requests whenever a
standing queue exists. Every shed has a reason: ``limit``, ``queue_timeout``,
``priority``, ``deadline`` or ``draining``.

**Long-lived requests are not load.** A request stops holding its slot once its
response has started (streams, SSE, downloads), once it has waited more than
:data:`SLOW_BODY` for its body from the client (slow uploads: for good, so the
work after the upload runs outside the limit), and once it has been in
the app for :data:`LONG_FACTOR` times the baseline latency (at least
:data:`LONG_MIN`) while the loop has room and the thread pool is not starved
(long-polls, handlers that never return).
A request still running after ``hung_after`` without a response is reported hung.

Priorities: ``critical`` jumps the queue, evicts others when it is full, and waits for
the next free slot (up to ``CRITICAL_WAIT``), so it is admitted as long as anything
is; ``sheddable`` never waits behind a standing queue and is evicted first.

**Observe mode** (``observe=True``) admits everything at once and only counts what it
would have shed, and why.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections import Counter, deque
from collections.abc import Callable
from time import perf_counter
from typing import Any, Final, Literal

import anyio

from poise.admission.limiter import GradientLimiter
from poise.admission.policy import CRITICAL, DEFAULT, SHEDDABLE
from poise.ledger import Ledger, ShedReason

__all__ = [
    "GROWTH_SPANS",
    "INTERVAL",
    "LONG_FACTOR",
    "LONG_MIN",
    "SLOW_BODY",
    "TARGET",
    "TREND_STEP",
    "Admission",
    "Mode",
]

logger = logging.getLogger("poise")

Mode = Literal["hold", "shed", "probe"]

TARGET: Final = 0.005
INTERVAL: Final = 0.1
# Critical requests wait for the next free slot this long, whatever the queue's state:
# "admitted as long as anything is" means taking the next slot that frees up.
CRITICAL_WAIT: Final = 1.0
# Growth: the outstanding count (in the app + queued) is noted every TREND_STEP. It is
# growing when it rose in each of GROWTH_SPANS consecutive spans, each by at least
# GROWTH_SHARE of the requests completed in that span (arrivals at least 1 + that share
# of completions, sustained) and GROWTH_MIN: over FAST_SPAN steps (an overload of 1.25x
# or more is seen in 0.75 s), or over SLOW_SPAN steps with SLOW_SHARE (a slow one, in 3 s).
# A closed-loop crowd arriving (all of wrk's connections opening at once, a pool filling
# up) rises once and then stays level: it does not rise three spans in a row; nor does
# the noise of a level crowd, which is a few requests either way.
TREND_STEP: Final = 0.05
GROWTH_SPANS: Final = 3
FAST_SPAN: Final = 5
GROWTH_SHARE: Final = 0.25
SLOW_SPAN: Final = 20
SLOW_SHARE: Final = 0.1
GROWTH_MIN: Final = 4
TREND_HISTORY: Final = GROWTH_SPANS * SLOW_SPAN
# Probing while shedding: the first after PROBE_FIRST seconds of shedding, then twice as
# long each time a probe finds an open loop, up to PROBE_MAX. A probe holds for
# PROBE_LEN and judges the arrivals of its second half: below PROBE_RATIO of the rate
# while shedding means the crowd waits when held (closed loop).
PROBE_FIRST: Final = 0.25
PROBE_MAX: Final = 8.0
PROBE_LEN: Final = 0.2
PROBE_RATIO: Final = 0.5
# ... and its arrivals at most PROBE_PACE x its completions (plus PROBE_PACE_SLACK a
# second, for the noise of a 50 ms count).
PROBE_PACE: Final = 1.5
PROBE_PACE_SLACK: Final = 40.0
# Growth this soon after a probe judged the crowd closed proves the verdict wrong.
REGROWTH: Final = 5.0
# Long-lived: a request waiting this long for its body is waiting on the client; one in
# the app LONG_FACTOR x the baseline latency (at least LONG_MIN) is an outlier the limit
# cannot regulate. Both stop holding a slot (the latter only while the loop has room).
SLOW_BODY: Final = 0.010
LONG_FACTOR: Final = 20.0
LONG_MIN: Final = 1.0
# The sweep for those runs at most this often (when someone waits, and on each tick).
SWEEP_EVERY: Final = 0.005
# Hung requests are logged at most once per route per this many seconds.
HUNG_LOG_INTERVAL: Final = 60.0

DEFAULT_MAX_WAIT: Final = 10.0
DEFAULT_MAX_QUEUE: Final = 2048
DEFAULT_HUNG_AFTER: Final = 30.0


def _unknown_route(ledger: Ledger) -> str:
    return f"{ledger.method} {ledger.route or '<in flight>'}"


class _Waiter:
    """One queued request. Woken with ``admitted`` set, or with ``reason`` set (shed)."""

    __slots__ = ("admitted", "deadline", "enqueued", "ledger", "priority", "reason", "waker")

    def __init__(self, ledger: Ledger, priority: int, enqueued: float, deadline: float) -> None:
        self.ledger = ledger
        self.priority = priority
        self.enqueued = enqueued
        self.deadline = deadline
        self.admitted = False
        self.reason: ShedReason | None = None
        self.waker: _Waker | None = None


class _Waker:
    """How a waiter sleeps and is woken: asyncio futures and a loop timer where the loop
    is asyncio (a few microseconds), anyio's event and cancel scope elsewhere."""

    __slots__ = ("event", "future", "handle")

    def __init__(self) -> None:
        self.future: asyncio.Future[None] | None = None
        self.handle: asyncio.TimerHandle | None = None
        self.event: anyio.Event | None = None

    def wake(self) -> None:
        if self.future is not None:
            if not self.future.done():
                self.future.set_result(None)
        elif self.event is not None:
            self.event.set()


class Admission:
    """The concurrency limit and its wait queue, for one process.

    Args:
        limiter: the adaptive limit; ``None`` admits everything (admission off; the
            counts and deadlines still work).
        observe: admit everything, and count what would have been shed, and why.
        max_wait: the longest a request is held in the queue.
        max_queue: the most requests held in the queue at once.
        hung_after: a request running this long without a response is reported hung
            (``None``: never).
        route_label: ``"METHOD /template"`` of a request in flight (for hung reports).
        pool_starved: whether the thread pool is starved now (every thread busy, calls
            waiting): long-running requests are then not released as long-lived.
        clock: ``perf_counter`` seconds (injectable for tests).
    """

    def __init__(
        self,
        limiter: GradientLimiter | None,
        *,
        observe: bool = False,
        max_wait: float = DEFAULT_MAX_WAIT,
        max_queue: int = DEFAULT_MAX_QUEUE,
        hung_after: float | None = DEFAULT_HUNG_AFTER,
        route_label: Callable[[Ledger], str] = _unknown_route,
        pool_starved: Callable[[], bool] | None = None,
        clock: Callable[[], float] = perf_counter,
    ) -> None:
        self.limiter = limiter
        self.observe = observe and limiter is not None
        self.max_wait = max_wait
        self.max_queue = max_queue
        self.hung_after = hung_after
        self.route_label = route_label
        self._pool_starved = pool_starved
        self._clock = clock
        # Admitted requests holding a slot -> when they were admitted.
        self._slots: dict[Ledger, float] = {}
        # Admitted requests that no longer hold a slot but are still running without a
        # response (long-lived, slow upload) -> when they were admitted.
        self._long: dict[Ledger, float] = {}
        # Requests waiting for body bytes from the client -> since when.
        self.reading: dict[Ledger, float] = {}
        self._queues: tuple[deque[_Waiter], ...] = (deque(), deque(), deque())
        self._queued = 0
        self._last_empty = clock()
        self._asyncio: bool | None = None
        # Mode, growth and probes.
        self.mode: Mode = "hold"
        self._mode_since = self._last_empty
        self._trend: deque[tuple[float, int, int]] = deque(maxlen=TREND_HISTORY + 1)
        self._probe_after = PROBE_FIRST
        self._closed_at = -math.inf
        self._probe_at = 0.0
        self._shed_rate = 0.0
        self._arrivals: deque[tuple[float, int]] = deque(maxlen=TREND_HISTORY + 1)
        self._empty_since: float | None = self._last_empty
        self._last_sweep = 0.0
        self._hung_logged: dict[str, float] = {}
        # Counters.
        self.arrived = 0
        self.completed = 0
        self.finished_total = 0
        self.shed_total = 0
        self.deadline_total = 0
        self.shed_reasons: Counter[str] = Counter()
        self.would_shed: Counter[str] = Counter()
        self.would_queue = 0
        self.released_early: Counter[str] = Counter()
        self.hung_total = 0
        self.abandoned = 0
        self.modes_entered: Counter[str] = Counter()

    # -- the request path --------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Requests in the app holding a slot."""
        return len(self._slots)

    def try_admit(self, ledger: Ledger, priority: int) -> bool:
        """Admit now if there is room (no waiting); ``False``: call :meth:`wait`."""
        self.arrived += 1
        limiter = self.limiter
        slots = self._slots
        if limiter is None:
            slots[ledger] = ledger.start
            return True
        if len(slots) < limiter.allowed and (not self._queued or priority == CRITICAL):
            slots[ledger] = ledger.start
            limiter.observe_in_flight(len(slots))
            return True
        if self.observe:
            self._observe(ledger, priority)
            return True
        return False

    def bypass(self, ledger: Ledger) -> None:
        """Let a long-lived route's request in without a slot (not counted, not shed)."""
        self.arrived += 1

    @property
    def on_asyncio(self) -> bool:
        """Whether the queue runs on asyncio (so a waiter can watch its connection)."""
        if self._asyncio is None:
            try:
                asyncio.get_running_loop()
                self._asyncio = True
            except RuntimeError:  # another anyio backend (trio)
                self._asyncio = False
        return self._asyncio

    async def wait(
        self,
        ledger: Ledger,
        priority: int,
        budget: float | None,
        *,
        draining: bool = False,
    ) -> ShedReason | None:
        """Queue for a slot: ``None`` once admitted, or why the request is shed.

        Args:
            budget: seconds left of the request's deadline, if it has one.
            draining: shutdown has begun: nobody new waits.
        """
        limiter = self.limiter
        assert limiter is not None
        now = self._clock()
        self._sweep(now)
        self._trend_step(now)
        if len(self._slots) < limiter.allowed and (not self._queued or priority == CRITICAL):
            self._admit(ledger, now)  # the sweep freed a slot
            return None
        if self.mode == "hold" and limiter.clear(now) and limiter.grow_on_demand(len(self._slots)):
            self._admit(ledger, now)  # nothing says the app is congested: no reason to wait
            return None
        if draining:
            return "draining"
        reason, timeout = self._judge(priority, budget, now)
        if reason is not None:
            return reason
        full = self._queued >= self.max_queue or (
            self.mode == "shed" and self._queued >= max(1, int(limiter.limit / 2))
        )
        if full and not self._evict_below(priority):
            return "limit"
        waiter = _Waiter(ledger, priority, now, now + timeout)
        self._queues[priority].append(waiter)
        self._queued += 1
        self._empty_since = None
        try:
            await self._sleep(waiter)
        except BaseException:
            # Cancelled from outside: leave the queue, or give back a slot handed over
            # meanwhile (the request will never run).
            if waiter.admitted:
                self._release_slot(ledger, self._clock(), sample=False)
            else:
                self._forget(waiter)
            raise
        if waiter.admitted:
            ledger.admission_wait = self._clock() - ledger.start
            return None
        return waiter.reason or "queue_timeout"

    def _judge(
        self, priority: int, budget: float | None, now: float
    ) -> tuple[ShedReason | None, float]:
        """Shed at once (and why), or how long it may wait."""
        limiter = self.limiter
        assert limiter is not None
        if not self._queued:
            self._last_empty = now
        mode = self.mode
        if mode == "hold" and priority != CRITICAL:
            timeout = self.max_wait if priority == DEFAULT else INTERVAL
        elif mode == "probe":
            timeout = max(self.max_wait if priority == DEFAULT else INTERVAL, PROBE_LEN + TARGET)
        else:
            # A congested loop counts as a standing queue: waiting would only add to it.
            standing = now - self._last_empty > INTERVAL or limiter.congested
            if priority == SHEDDABLE and standing:
                return "priority", 0.0
            timeout = CRITICAL_WAIT if priority == CRITICAL else TARGET if standing else INTERVAL
        if priority == CRITICAL:
            timeout = max(timeout, CRITICAL_WAIT)
        if budget is not None:
            # Would it miss its deadline anyway? The queue ahead drains at the recent
            # completion rate; then it needs about the baseline latency in the app.
            expected = self._expected_wait(priority) + (limiter.long or 0.0)
            if budget <= 0 or (expected > budget and priority != CRITICAL):
                return "deadline", 0.0
            timeout = min(timeout, budget)
        return None, timeout

    def _expected_wait(self, priority: int) -> float:
        ahead = sum(len(q) for q in self._queues[: priority + 1])
        rate = self.limiter.rate if self.limiter is not None else 0.0
        if not ahead:
            return 0.0
        return math.inf if rate <= 0 else ahead / rate

    async def _sleep(self, waiter: _Waiter) -> None:
        waker = waiter.waker = _Waker()
        if self.on_asyncio:
            loop = asyncio.get_running_loop()
            waker.future = loop.create_future()
            waker.handle = loop.call_at(
                loop.time() + max(0.0, waiter.deadline - self._clock()), self._expire, waiter
            )
            try:
                await waker.future
            finally:
                waker.handle.cancel()
            return
        waker.event = anyio.Event()
        while not waiter.admitted and waiter.reason is None:
            left = waiter.deadline - self._clock()
            if left <= 0:
                self._expire(waiter)
                return
            with anyio.move_on_after(left):
                await waker.event.wait()

    def _expire(self, waiter: _Waiter) -> None:
        """A waiter's time is up (or it was extended: then sleep on)."""
        if waiter.admitted or waiter.reason is not None:
            return
        now = self._clock()
        waker = waiter.waker
        if waiter.deadline > now + 1e-4:  # extended (a probe turned into holding)
            if waker is not None and waker.future is not None:
                loop = waker.future.get_loop()
                waker.handle = loop.call_at(loop.time() + waiter.deadline - now, self._expire,
                                            waiter)  # fmt: skip
            return
        self._forget(waiter)
        waiter.reason = "queue_timeout"
        if waker is not None:
            waker.wake()

    def _admit(self, ledger: Ledger, now: float) -> None:
        self._slots[ledger] = now
        ledger.admission_wait = now - ledger.start
        limiter = self.limiter
        if limiter is not None:
            limiter.observe_in_flight(len(self._slots))

    def _forget(self, waiter: _Waiter) -> None:
        queue = self._queues[waiter.priority]
        if waiter in queue:  # an evicted or dispatched waiter was removed already
            queue.remove(waiter)
            self._queued -= 1
            if not self._queued:
                self._last_empty = self._empty_since = self._clock()

    def _evict_below(self, priority: int) -> bool:
        """Make room by shedding the newest queued request of a lower priority."""
        for lower in range(SHEDDABLE, priority, -1):
            queue = self._queues[lower]
            if queue:
                victim = queue.pop()
                self._queued -= 1
                victim.reason = "priority"
                if victim.waker is not None:
                    victim.waker.wake()
                return True
        return False

    # -- leaving -------------------------------------------------------------------------

    def release(self, ledger: Ledger, *, sample: bool) -> None:
        """``ledger``'s request no longer needs its slot: its response started, or it
        ended. ``sample``: its time in the app is a latency sample for the limit (not
        for deadlines, disconnects, or requests released early)."""
        self._release_slot(ledger, self._clock(), sample=sample)

    def _release_slot(self, ledger: Ledger, now: float, *, sample: bool) -> None:
        admitted = self._slots.pop(ledger, None)
        if admitted is None:
            self._long.pop(ledger, None)
            return
        self.completed += 1
        limiter = self.limiter
        if limiter is None:
            return
        if sample:
            limiter.sample(now - admitted, len(self._slots) + 1, now)
        if self._queued:
            self._dispatch(now)

    def done(self, ledger: Ledger) -> None:
        """An admitted request ended (after :meth:`release`, or instead of it)."""
        self.finished_total += 1
        self._long.pop(ledger, None)
        self.reading.pop(ledger, None)
        if ledger in self._slots:
            self._release_slot(ledger, self._clock(), sample=False)

    def _dispatch(self, now: float) -> None:
        limiter = self.limiter
        assert limiter is not None
        mode = self.mode
        lifo = mode == "probe" or (
            mode == "shed" and (now - self._last_empty > INTERVAL or limiter.congested)
        )
        while self._queued and len(self._slots) < limiter.allowed:
            for queue in self._queues:
                if queue:
                    waiter = queue.pop() if lifo else queue.popleft()
                    break
            else:  # pragma: no cover - _queued says there is one
                break
            self._queued -= 1
            waiter.admitted = True
            self._slots[waiter.ledger] = now
            if waiter.waker is not None:
                waiter.waker.wake()
        if not self._queued:
            self._last_empty = self._empty_since = now

    def expired(self) -> None:
        """A request's deadline expired in the app: count it, and back the limit off."""
        self.deadline_total += 1
        if self.limiter is not None:
            self.limiter.drop()

    def refused(self, ledger: Ledger, reason: ShedReason) -> None:
        """Count a request answered without entering the app."""
        self.shed_total += 1
        self.shed_reasons[reason] += 1
        if self.limiter is not None:
            self.limiter.shed()

    def retry_after(self) -> int:
        """Seconds a shed client should wait: the estimated drain time in whole seconds
        (at least 1), plus a random 0 to half of it (at least 0 or 1), so that shed
        clients spread their retries instead of coming back in the same second."""
        limiter = self.limiter
        latency = 0.1 if limiter is None else limiter.short or 0.1
        limit = 1.0 if limiter is None else max(1.0, limiter.limit)
        base = max(1, math.ceil((self._queued + 1) * latency / limit))
        return base + random.randint(0, max(1, base // 2))

    # -- modes -----------------------------------------------------------------------------

    def _trend_step(self, now: float) -> None:
        """Every TREND_STEP: note the outstanding count, and change mode if it says so."""
        trend = self._trend
        if trend and now - trend[-1][0] < TREND_STEP:
            return
        backlog = self._backlog()
        if backlog:
            self._empty_since = None
        elif self._empty_since is None:
            self._empty_since = now
        trend.append((now, len(self._slots) + self._queued, self.completed))
        self._arrivals.append((now, self.arrived))
        mode = self.mode
        if mode == "hold":
            if backlog and self._growing(now):
                # Growing again soon after a probe judged the crowd closed: that verdict
                # was wrong (an open loop whose client ran short of connections while
                # held looks closed), so the next probe comes later; otherwise early.
                if now - self._closed_at < REGROWTH:
                    self._probe_after = min(PROBE_MAX, self._probe_after * 2)
                else:
                    self._probe_after = PROBE_FIRST
                self._enter("shed", now)
        elif mode == "shed":
            empty_since = self._empty_since
            if empty_since is not None and now - empty_since >= INTERVAL:
                self._enter("hold", now)
            elif now - self._mode_since >= self._probe_after and not self.observe:
                self._shed_rate = self._arrival_rate(now, PROBE_LEN)
                self._enter("probe", now)
        elif now - self._mode_since >= PROBE_LEN:
            self._judge_probe(now)

    def _backlog(self) -> int:
        """Requests waiting for a slot (in observe mode: admitted over the limit)."""
        if self.observe and self.limiter is not None:
            return max(0, len(self._slots) - int(self.limiter.limit))
        return self._queued

    def _growing(self, now: float) -> bool:
        # Soon after a probe judged the crowd closed, one span of growth is enough: a
        # closed crowd stays level once held, and an open loop misjudged must not be
        # held for three spans again.
        spans = 1 if now - self._closed_at < REGROWTH else GROWTH_SPANS
        return self._rising(FAST_SPAN, GROWTH_SHARE, spans) or self._rising(
            SLOW_SPAN, SLOW_SHARE, spans
        )

    def _rising(self, span: int, share: float, spans: int = GROWTH_SPANS) -> bool:
        """Whether the outstanding count rose in each of the last ``spans`` spans of
        ``span`` steps, by ``share`` of that span's completions (and GROWTH_MIN)."""
        trend = self._trend
        if len(trend) <= spans * span:
            return False
        for k in range(spans):
            _, after, done_after = trend[-1 - k * span]
            _, before, done_before = trend[-1 - (k + 1) * span]
            if after - before < max(GROWTH_MIN, share * (done_after - done_before)):
                return False
        return True

    def _arrival_rate(self, now: float, seconds: float) -> float:
        """Arrivals per second over (about) the last ``seconds``, from the trend marks."""
        start = None
        for at, arrived in reversed(self._arrivals):
            if now - at >= seconds:
                start = (at, arrived)
                break
        if start is None:
            if not self._arrivals:
                return 0.0
            start = self._arrivals[0]
        elapsed = now - start[0]
        return (self.arrived - start[1]) / elapsed if elapsed > 0 else 0.0

    def _completion_rate(self, now: float, seconds: float) -> float:
        """Completions per second over (about) the last ``seconds``, from the trend marks."""
        start = None
        for at, _outstanding, completed in reversed(self._trend):
            start = (at, completed)
            if now - at >= seconds:
                break
        if start is None or now - start[0] <= 0:
            return 0.0
        return (self.completed - start[1]) / (now - start[0])

    def _judge_probe(self, now: float) -> None:
        # The arrivals of the probe's second half: the held crowd has settled by then. A
        # closed crowd, held, arrives at about the rate it completes (each client sends
        # its next request when it has its answer) and far below its rate while shed
        # (when it re-sent at once). Both must hold: the rate while shedding alone is
        # inflated by the backlog read just after shedding began, and an open-loop
        # overload then looked closed.
        rate = self._arrival_rate(now, PROBE_LEN / 2)
        pace = PROBE_PACE * self._completion_rate(now, PROBE_LEN / 2) + PROBE_PACE_SLACK
        if rate < PROBE_RATIO * self._shed_rate and rate <= pace:
            self._closed_at = now
            self._enter("hold", now)
            for queue in self._queues:
                for waiter in queue:  # hold them as any held request
                    waiter.deadline = max(waiter.deadline, waiter.enqueued + self.max_wait)
            return
        self._probe_after = min(PROBE_MAX, self._probe_after * 2)
        self._enter("shed", now)

    def _trim(self, now: float) -> None:
        """Shedding begins: the held backlog has waited past CoDel's target; shed it
        now, oldest first (critical requests keep waiting)."""
        for queue in self._queues[1:]:
            while queue and now - queue[0].enqueued > TARGET:
                waiter = queue.popleft()
                self._queued -= 1
                waiter.reason = "queue_timeout"
                if waiter.waker is not None:
                    waiter.waker.wake()
        if not self._queued:
            self._last_empty = self._empty_since = now

    def _enter(self, mode: Mode, now: float) -> None:
        if mode != self.mode:
            self.mode = mode
            self._mode_since = now
            self.modes_entered[mode] += 1
            if mode != "probe":
                self._trend.clear()
            limiter = self.limiter
            if limiter is not None and not self.observe:
                if mode == "hold":
                    limiter.shedding = False
                elif not limiter.shedding:
                    limiter.start_shedding()
            if mode == "shed" and not self.observe:
                self._trim(now)

    # -- observe mode ----------------------------------------------------------------------

    def _observe(self, ledger: Ledger, priority: int) -> None:
        """Over the limit in observe mode: admitted anyway; count what would have happened."""
        now = self._clock()
        limiter = self.limiter
        assert limiter is not None
        self._slots[ledger] = ledger.start
        self.would_queue += 1
        self._trend_step(now)
        if priority == CRITICAL:
            return
        if self.mode == "shed":
            standing = now - self._mode_since > INTERVAL or limiter.congested
            if priority == SHEDDABLE:
                self.would_shed["priority"] += 1
            elif standing:
                self.would_shed["limit"] += 1
        elif priority == SHEDDABLE and limiter.congested:
            self.would_shed["priority"] += 1

    # -- the sweep and the tick --------------------------------------------------------------

    def _sweep(self, now: float) -> None:
        """Release slots held by requests that are not load (at most every SWEEP_EVERY)."""
        if now - self._last_sweep < SWEEP_EVERY:
            return
        self._last_sweep = now
        slots = self._slots
        freed = False
        for ledger, since in list(self.reading.items()):
            if now - since >= SLOW_BODY and ledger in slots:
                self._long[ledger] = slots.pop(ledger)
                self.released_early["slow_body"] += 1
                freed = True
        limiter = self.limiter
        starved = self._pool_starved
        # Not while the loop is congested, nor while the thread pool is starved: a
        # request waiting for a thread (or a connection a thread holds) is load on it,
        # and releasing it would let ever more work into a stuck or saturated pool.
        if limiter is not None and not limiter.congested and not (starved and starved()):
            long_after = max(LONG_MIN, LONG_FACTOR * (limiter.long or 0.0))
            for ledger, admitted in list(slots.items()):
                if now - admitted >= long_after:
                    self._long[ledger] = slots.pop(ledger)
                    self.released_early["long_lived"] += 1
                    freed = True
        if freed and self._queued:
            self._dispatch(now)

    def tick(self) -> None:
        """The periodic look (every health tick): long-lived and hung requests, the
        limiter's clock, and modes, even when no request arrives or finishes."""
        now = self._clock()
        limiter = self.limiter
        if limiter is not None:
            limiter.tick(now)
            self._sweep(now)
            self._trend_step(now)
            if self._queued:
                self._dispatch(now)
        hung_after = self.hung_after
        if hung_after is None:
            return
        for table in (self._slots, self._long):
            for ledger, admitted in list(table.items()):
                if not ledger.hung and now - admitted >= hung_after:
                    self._report_hung(ledger, now - admitted, now)

    def _report_hung(self, ledger: Ledger, age: float, now: float) -> None:
        ledger.hung = True
        self.hung_total += 1
        route = self.route_label(ledger)
        last = self._hung_logged.get(route)
        if last is None or now - last >= HUNG_LOG_INTERVAL:
            if len(self._hung_logged) > 1024:
                self._hung_logged.clear()
            self._hung_logged[route] = now
            logger.warning(
                "poise: a request to %s has run for %.1f s without starting its response "
                "(hung_after=%g s); it no longer counts against the concurrency limit. "
                "Give the route a deadline, or mark it long-lived if that is its nature "
                "(@poise.route(long_lived=True))",
                route, age, self.hung_after,
            )  # fmt: skip

    # -- reading ---------------------------------------------------------------------------

    @property
    def queued(self) -> int:
        return self._queued

    def hung_now(self) -> list[dict[str, Any]]:
        """The requests reported hung and still running: route and age."""
        now = self._clock()
        return [
            {"route": self.route_label(ledger), "age_s": round(now - admitted, 3)}
            for table in (self._slots, self._long)
            for ledger, admitted in table.items()
            if ledger.hung
        ]

    def stats(self) -> dict[str, Any]:
        limiter = self.limiter
        mode = "off" if limiter is None else "observe" if self.observe else "enforce"
        return {
            "enabled": limiter is not None,
            "mode": mode,
            "queue_mode": None if limiter is None else self.mode,
            "limit": None if limiter is None else limiter.capacity,
            "min_limit": None if limiter is None else limiter.min_limit,
            "max_limit": None if limiter is None else limiter.max_limit,
            "warming_up": None if limiter is None else limiter.warming,
            "loop_congested": None if limiter is None else limiter.congested,
            "loop_busy": None if limiter is None else round(limiter.busy, 3),
            "in_flight": len(self._slots),
            "long_lived_in_flight": len(self._long),
            "queued": self._queued,
            "shed_total": self.shed_total,
            "shed_reasons": dict(sorted(self.shed_reasons.items())),
            "would_shed_total": sum(self.would_shed.values()),
            "would_shed_reasons": dict(sorted(self.would_shed.items())),
            "would_queue_total": self.would_queue,
            "deadline_total": self.deadline_total,
            "released_early": dict(sorted(self.released_early.items())),
            "hung_total": self.hung_total,
            "abandoned_in_queue": self.abandoned,
            "hung": self.hung_now(),
            "modes_entered": dict(sorted(self.modes_entered.items())),
            "latency_short_s": None if limiter is None or limiter.short is None
            else round(limiter.short, 6),
            "latency_long_s": None if limiter is None or limiter.long is None
            else round(limiter.long, 6),
        }  # fmt: skip
