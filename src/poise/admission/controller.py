"""Admission: who gets into the app now, who waits (briefly), who is shed.

A request is admitted at once while fewer than ``limit`` are in the app. Otherwise it
may wait in a small queue (at most half the limit), CoDel-style: only while the queue
has drained within the last ``INTERVAL`` may a request wait up to ``INTERVAL``; once a
standing queue has formed, a request waits at most ``TARGET`` and the queue is served
newest first (adaptive LIFO), so those who get in are still worth answering. When the
queue is full, a request evicts a queued one of lower priority, or is shed.

Priorities: ``critical`` jumps the queue, evicts others when it is full, and waits for
the next free slot (up to ``CRITICAL_WAIT``), so it is admitted as long as anything
is; ``sheddable`` never waits behind a standing queue and is evicted first.
"""

from __future__ import annotations

import math
import random
from collections import deque
from time import perf_counter
from typing import Any, Final

import anyio

from poise.admission.limiter import GradientLimiter
from poise.admission.policy import CRITICAL, SHEDDABLE

__all__ = ["INTERVAL", "TARGET", "Admission"]

TARGET: Final = 0.005
INTERVAL: Final = 0.1
# Critical requests wait for the next free slot this long, whatever the queue's state:
# "admitted as long as anything is" means taking the next slot that frees up.
CRITICAL_WAIT: Final = 1.0


class _Waiter:
    __slots__ = ("admitted", "event", "priority")

    def __init__(self, priority: int) -> None:
        self.priority = priority
        self.event = anyio.Event()
        self.admitted = False


class Admission:
    """The concurrency limit and its wait queue, for one process.

    Args:
        limiter: the adaptive limit; ``None`` admits everything (admission off; the
            counts and deadlines still work).
    """

    def __init__(self, limiter: GradientLimiter | None) -> None:
        self.limiter = limiter
        self.in_flight = 0
        self.shed_total = 0
        self.deadline_total = 0
        self.finished_total = 0
        self._queues: tuple[deque[_Waiter], ...] = (deque(), deque(), deque())
        self._queued = 0
        self._last_empty = perf_counter()

    # -- the request path --------------------------------------------------------------

    def try_admit(self, priority: int) -> bool:
        """Admit now if there is room (no waiting); ``False``: call :meth:`wait`."""
        limiter = self.limiter
        if limiter is None:
            self.in_flight += 1
            return True
        if self.in_flight < limiter.limit and (not self._queued or priority == CRITICAL):
            self.in_flight += 1
            limiter.observe_in_flight(self.in_flight)
            return True
        return False

    async def wait(self, priority: int, budget: float | None) -> bool:
        """Queue for a slot for at most the CoDel timeout (and ``budget`` seconds).

        Returns whether the request was admitted; ``False`` means shed it.
        """
        limiter = self.limiter
        assert limiter is not None
        now = perf_counter()
        if not self._queued:
            self._last_empty = now
        # A congested loop counts as a standing queue: waiting would only add to it.
        standing = now - self._last_empty > INTERVAL or limiter.congested
        if priority == SHEDDABLE and standing:
            return False
        if self._queued >= max(1, int(limiter.limit / 2)) and not self._evict_below(priority):
            return False
        timeout = CRITICAL_WAIT if priority == CRITICAL else TARGET if standing else INTERVAL
        if budget is not None:
            timeout = min(timeout, budget)
        if timeout <= 0:
            return False
        waiter = _Waiter(priority)
        self._queues[priority].append(waiter)
        self._queued += 1
        admitted = False
        try:
            with anyio.move_on_after(timeout):
                await waiter.event.wait()
            admitted = waiter.admitted
            return admitted
        finally:
            if not admitted:
                self._forget(waiter)

    def _forget(self, waiter: _Waiter) -> None:
        """A waiter gives up: timed out, evicted, or cancelled from outside (then it may
        have been handed a slot already, which goes to the next one)."""
        if waiter.admitted:
            self.in_flight -= 1
            if self._queued:
                self._dispatch(perf_counter())
            return
        queue = self._queues[waiter.priority]
        if waiter in queue:  # an evicted waiter was removed already
            queue.remove(waiter)
            self._queued -= 1
            if not self._queued:
                self._last_empty = perf_counter()

    def _evict_below(self, priority: int) -> bool:
        """Make room by shedding the newest queued request of a lower priority."""
        for lower in range(SHEDDABLE, priority, -1):
            queue = self._queues[lower]
            if queue:
                victim = queue.pop()
                self._queued -= 1
                victim.event.set()  # wakes it not admitted: it is shed
                return True
        return False

    def release(self, latency: float | None) -> None:
        """A request admitted earlier finished; ``latency`` (seconds) feeds the limit.

        ``None``: it does not count as a latency sample (client gone, deadline).
        """
        self.in_flight -= 1
        self.finished_total += 1
        limiter = self.limiter
        if limiter is None:
            return
        now = perf_counter()
        if latency is not None:
            limiter.sample(latency, self.in_flight + 1, now)
        if self._queued:
            self._dispatch(now)

    def _dispatch(self, now: float) -> None:
        limiter = self.limiter
        assert limiter is not None
        lifo = now - self._last_empty > INTERVAL or limiter.congested
        while self._queued and self.in_flight < limiter.limit:
            for queue in self._queues:
                if queue:
                    waiter = queue.pop() if lifo else queue.popleft()
                    break
            else:  # pragma: no cover - _queued says there is one
                break
            self._queued -= 1
            waiter.admitted = True
            self.in_flight += 1
            waiter.event.set()
        if not self._queued:
            self._last_empty = now

    def expired(self) -> None:
        """A request's deadline expired in the app: count it, and back the limit off."""
        self.deadline_total += 1
        if self.limiter is not None:
            self.limiter.drop()

    def retry_after(self) -> int:
        """Seconds a shed client should wait: the estimated drain time in whole seconds
        (at least 1), plus a random 0 to half of it (at least 0 or 1), so that shed
        clients spread their retries instead of coming back in the same second."""
        limiter = self.limiter
        latency = 0.1 if limiter is None else limiter.short or 0.1
        limit = 1.0 if limiter is None else max(1.0, limiter.limit)
        base = max(1, math.ceil((self._queued + 1) * latency / limit))
        return base + random.randint(0, max(1, base // 2))

    # -- reading ------------------------------------------------------------------------

    @property
    def queued(self) -> int:
        return self._queued

    def stats(self) -> dict[str, Any]:
        limiter = self.limiter
        return {
            "enabled": limiter is not None,
            "limit": None if limiter is None else limiter.capacity,
            "min_limit": None if limiter is None else limiter.min_limit,
            "max_limit": None if limiter is None else limiter.max_limit,
            "warming_up": None if limiter is None else limiter.warming,
            "loop_congested": None if limiter is None else limiter.congested,
            "loop_busy": None if limiter is None else round(limiter.busy, 3),
            "in_flight": self.in_flight,
            "queued": self._queued,
            "shed_total": self.shed_total,
            "deadline_total": self.deadline_total,
            "latency_short_s": None if limiter is None or limiter.short is None
            else round(limiter.short, 6),
            "latency_long_s": None if limiter is None or limiter.long is None
            else round(limiter.long, 6),
        }  # fmt: skip
