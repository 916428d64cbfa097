"""Incidents: event-loop blocks with their stack, culprit and victims; kept, counted, logged.

Built in the watchdog thread (stack rendering is kept off the loop), stored in a
bounded ring that the admin API reads, and logged at most once per code site per
minute, so a blocker hit a thousand times a minute writes one stack, not a thousand.

The ring also keeps the thread pool's ``threadpool_starved`` incidents
(:mod:`poise.loop.threadpool`), which log themselves.
"""

from __future__ import annotations

import logging
import os
import site
import sysconfig
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from types import CodeType
from typing import Any, Final, Protocol

__all__ = ["GIL_CULPRIT", "Incident", "IncidentStore", "Record", "StackFrame", "is_library_file"]

logger = logging.getLogger("poise")

LOG_INTERVAL: Final = 60.0
# How long a stackless incident waits before being logged on its own.
STACKLESS_GRACE: Final = 1.0
# Distinct code sites remembered for log rate limiting (least recently logged dropped).
MAX_LOG_SITES: Final = 1024
#: The culprit named (in ``stalled_by`` and logs) when the loop thread was starved of
#: the GIL by thread-pool work rather than held by code of its own.
GIL_CULPRIT: Final = "<thread pool (GIL)>"


class Record(Protocol):
    """Anything kept in the incident ring: it renders itself for the stats API."""

    def to_dict(self) -> dict[str, Any]: ...


def _library_roots() -> tuple[str, ...]:
    roots = set()
    for name in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(name)
        if path:
            roots.add(os.path.realpath(path))
    for path in [*site.getsitepackages(), site.getusersitepackages()]:
        roots.add(os.path.realpath(path))
    roots.add(os.path.realpath(Path(__file__).parents[1]))  # poise itself
    return tuple(sorted(roots, key=len, reverse=True))


_LIBRARY_ROOTS: Final = _library_roots()
# The file of the driver every request's steps run under (poise.loop.steps): below its
# frame is the request's own code.
_STEP_DRIVER: Final = str(Path(__file__).with_name("steps.py"))


@lru_cache(maxsize=4096)
def is_library_file(filename: str) -> bool:
    """Whether ``filename`` belongs to the standard library, an installed package or poise.

    Everything else (the project's own code) is a user frame.
    """
    if filename.startswith("<"):  # <frozen ...>, <string>
        return True
    real = os.path.realpath(filename)
    return any(real == root or real.startswith(root + os.sep) for root in _LIBRARY_ROOTS)


@dataclass(frozen=True, slots=True)
class StackFrame:
    """One frame of an incident's stack."""

    file: str
    line: int
    function: str
    library: bool

    @classmethod
    def of(cls, code: CodeType, line: int) -> StackFrame:
        return cls(code.co_filename, line, code.co_name, is_library_file(code.co_filename))

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "function": self.function,
                "library": self.library}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Incident:
    """One blocking step of the event loop.

    Attributes:
        at: wall-clock time the block began (``time.time()`` form).
        duration_s: how long the loop was held.
        route: ``"METHOD /template"`` of the request whose code blocked, or ``None``
            (start-up, a background task, a library callback, or the GIL).
        stack: the loop thread's stack while it was blocked, innermost last: the
            frames that stayed the same across every sample. Empty when the block
            ended before the watchdog could sample it.
        stalled_requests: how many other requests were in flight and had to wait.
        queued_requests: requests that reached poise just after the block ended: they
            waited in the server's and the kernel's buffers meanwhile (an estimate:
            see ``docs/loop.md``).
        gil: the loop thread was not running its own code: worker threads held the
            GIL (CPU-heavy sync routes or ``run_in_threadpool`` work).
        busy_routes: when ``gil``, the routes whose thread-pool jobs were running.
    """

    at: float
    duration_s: float
    route: str | None
    stack: tuple[StackFrame, ...]
    stalled_requests: int
    queued_requests: int = 0
    gil: bool = False
    busy_routes: tuple[tuple[str, int], ...] = ()

    @property
    def victims(self) -> int:
        """Every request that waited for the loop: in flight, or still in the buffers."""
        return self.stalled_requests + self.queued_requests

    @property
    def site(self) -> StackFrame | None:
        """The innermost user frame (or the innermost frame when none is user code).

        In a request, only the frames below poise's step driver count, and ``None`` when
        they hold no user code: where the app runs in its caller's task (an in-process
        test client), the caller's frames are on the stack too, and a block whose samples
        parted below the handler must not be filed under the caller's line.
        """
        stack = self.stack
        start = 0
        for index in range(len(stack) - 1, -1, -1):
            if stack[index].file == _STEP_DRIVER:
                start = index + 1
                break
        for frame in reversed(stack[start:]):
            if not frame.library:
                return frame
        if start:
            return None
        return stack[-1] if stack else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "gil_starved" if self.gil else "block",
            "at": datetime.fromtimestamp(self.at, UTC).isoformat(),
            "duration_s": round(self.duration_s, 6),
            "route": self.route,
            "stack": [frame.to_dict() for frame in self.stack],
            "stalled_requests": self.stalled_requests,
            "queued_requests": self.queued_requests,
            "victims": self.victims,
            "busy_routes": dict(self.busy_routes),
        }


_LogKey = tuple[str | None, int | str | None]


class IncidentStore:
    """The ring of recent incidents, their totals, and the rate-limited log.

    Written by the watchdog thread, read by the admin API on the loop thread.

    Args:
        capacity: how many incidents the ring keeps.
        log_interval: a code site is logged at most once per this many seconds.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        *,
        capacity: int,
        log_interval: float = LOG_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ring: deque[Record] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._log_interval = log_interval
        self._clock = clock
        # (file, line) of a site, ("route", r) for stackless blocks, ("any", r) for the
        # last log of route r -> (last logged at, blocks since then that were not logged)
        self._logged: OrderedDict[_LogKey, tuple[float, int]] = OrderedDict()
        # Stackless incidents wait here for STACKLESS_GRACE seconds: if their route
        # blocks again with a stack meanwhile, that log says it all.
        self._pending: dict[str | None, tuple[float, Incident]] = {}
        self.total = 0
        self.blocked_s = 0.0

    def add(self, incident: Incident) -> None:
        """Keep, count and (rate-limited) log one incident."""
        with self._lock:
            self._ring.append(incident)
            self.total += 1
            self.blocked_s += incident.duration_s
        self._log(incident)

    def keep(self, record: Record) -> None:
        """Keep an incident of another kind (it is counted and logged where it is made)."""
        with self._lock:
            self._ring.append(record)

    def recent(self) -> list[Record]:
        """The incidents in the ring, newest first."""
        with self._lock:
            return list(reversed(self._ring))

    def blocks(self) -> list[Incident]:
        """The loop blocks in the ring, newest first."""
        return [r for r in self.recent() if isinstance(r, Incident)]

    def flush(self) -> None:
        """Log the stackless incidents whose grace period is over (watchdog thread)."""
        if not self._pending:
            return
        now = self._clock()
        for route, (since, incident) in list(self._pending.items()):
            if now - since >= STACKLESS_GRACE:
                del self._pending[route]
                self._log(incident, now)

    def _log(self, incident: Incident, now: float | None = None) -> None:
        if incident.gil:
            # Where the loop thread happened to wait for the GIL says nothing: one key.
            now = self._clock() if now is None else now
            self._log_once(("gil", None), incident, now)
            return
        site = incident.site
        if now is None:
            now = self._clock()
            if site is None:
                # No stack: the block ended before it could be sampled (the watchdog
                # was idle, or a garbage collection held the GIL throughout). Wait a
                # little for the same route to block again with a stack.
                if incident.route in self._pending:
                    self._count_suppressed(("route", incident.route), now)
                else:
                    self._pending[incident.route] = (now, incident)
                return
        if site is None:
            # Still no stack: the route is the best name for where it happened, and if
            # that route was logged lately, this is most likely the same blocker again.
            key: _LogKey = ("route", incident.route)
            recent = self._logged.get(("any", incident.route))
            if recent is not None and now - recent[0] < self._log_interval:
                self._count_suppressed(key, now)
                return
        else:
            key = (site.file, site.line)
            if self._pending.pop(incident.route, None) is not None:
                self._count_suppressed(key, now)
        self._log_once(key, incident, now)

    def _log_once(self, key: _LogKey, incident: Incident, now: float) -> None:
        last = self._logged.get(key)
        if last is not None and now - last[0] < self._log_interval:
            self._count_suppressed(key, now)
            return
        suppressed = 0 if last is None else last[1]
        self._remember(key, now, 0)
        self._remember(("any", incident.route), now, 0)
        logger.warning("%s", format_incident(incident, suppressed, self._log_interval))

    def _count_suppressed(self, key: _LogKey, now: float) -> None:
        last = self._logged.get(key)
        if last is None:
            self._remember(key, now - self._log_interval, 1)  # due at the next block
        else:
            self._logged[key] = (last[0], last[1] + 1)

    def _remember(self, key: _LogKey, at: float, suppressed: int) -> None:
        self._logged[key] = (at, suppressed)
        self._logged.move_to_end(key)
        while len(self._logged) > MAX_LOG_SITES:
            self._logged.popitem(last=False)


def format_incident(incident: Incident, suppressed: int = 0, interval: float = LOG_INTERVAL) -> str:
    """The log text of an incident: one summary line, then the stack, innermost last."""
    site = incident.site
    where = f" at {site.file}:{site.line} in {site.function}()" if site else ""
    culprit = incident.route or "code outside any request"
    more = (
        f" [{suppressed} more block(s) here in the last {interval:.0f} s, not logged]"
        if suppressed
        else ""
    )
    queued = (
        f" ({incident.queued_requests} of them queued in the server meanwhile)"
        if incident.queued_requests
        else ""
    )
    waited = f"{incident.victims} other request(s) waited{queued}{more}"
    if incident.gil:
        busy = ", ".join(f"{route} x{n}" for route, n in incident.busy_routes) or "none known"
        return (
            f"poise: loop starved by thread-pool work (GIL) for {incident.duration_s:.3f} s "
            f"(threads busy for: {busy}); {waited}"
        )
    lines = [
        f"poise: the event loop was blocked for {incident.duration_s:.3f} s by {culprit}"
        f"{where}; {waited}"
    ]
    lines.extend(_format_frames(incident.stack))
    return "\n".join(lines)


def _format_frames(stack: Sequence[StackFrame]) -> list[str]:
    out = []
    for frame in stack:
        mark = "  " if frame.library else "> "
        out.append(f"  {mark}{frame.file}:{frame.line} in {frame.function}")
    return out
