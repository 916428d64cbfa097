"""The watchdog thread: samples the loop thread's stack while the loop is blocked.

While requests are in flight it wakes every ``threshold / 4`` (at most every 2 ms, at
least every 25 ms: 80 times a second at the default threshold); with none, four times
less often. Wake-ups are what it costs (on the machine of docs/benchmarks.md each one
is tens of microseconds of kernel and scheduler time, whatever the thread then does),
so it sleeps with a plain ``time.sleep`` rather than an event wait. When the loop is
healthy it reads three numbers and goes back to sleep: no lock, no sample, no
allocation. When a timed step has run for half the threshold, or the heartbeat is
overdue by as much, it samples the loop thread's stack through
``sys._current_frames()``: that works whatever is blocking, in code poise wrapped or
not. Starting at half the threshold means every step that reaches the threshold has
been sampled at least once. The loop thread reports each block when it ends (a
:class:`BlockEvent`); the watchdog then turns it and its samples into an incident,
rendering the stack here rather than on the loop.

**Blocked, or starved of the GIL?** A loop step can also take long because the loop
thread was not running at all: worker threads running pure-Python sync routes hold the
GIL, and the loop thread waits for it between bytecodes. Its stack then shows wherever
it happened to be, often an innocent async route. So each sample also reads the loop
thread's CPU clock and the process's: when, between two samples of one block, the loop
thread got less than :data:`GIL_LOOP_SHARE` of the time while other threads used more
than :data:`GIL_OTHERS_SHARE` of a core, the block is the thread pool's (the GIL), not
the code on the stack. A blocking call (``time.sleep``, a sync socket) leaves both
clocks still; a CPU-bound step runs the loop thread's.

**Victims the server saw late.** Requests that arrive during a block wait in uvicorn's
and the kernel's buffers, where poise cannot see them; they reach it right after the
block ends. An event is therefore turned into an incident only :data:`LATE_GRACE`
seconds after it ended, so the loop thread can count those late arrivals first.
"""

from __future__ import annotations

import sys
import threading
import time as _time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from time import perf_counter, sleep, time
from types import CodeType
from typing import Final, Literal

from poise._internal import InternalErrors
from poise.loop.incidents import Incident, IncidentStore, StackFrame, is_library_file
from poise.loop.state import LoopState

__all__ = ["GIL_LOOP_SHARE", "GIL_OTHERS_SHARE", "LATE_GRACE", "BlockEvent", "Watchdog"]

MIN_POLL: Final = 0.002
MAX_POLL: Final = 0.025
IDLE_SLOWDOWN: Final = 4
MAX_SAMPLES: Final = 512
MAX_DEPTH: Final = 128
#: Requests reaching poise within this many seconds of a block's end count as its
#: victims: they were waiting in the server's buffers while it lasted.
LATE_GRACE: Final = 0.010
#: Between two samples of one block: the loop thread ran less than this share of the
#: time, while the process's other threads used more than ``GIL_OTHERS_SHARE`` of a
#: core: the loop was starved of the GIL.
GIL_LOOP_SHARE: Final = 0.5
GIL_OTHERS_SHARE: Final = 0.5

Episode = tuple[str, float]


class BlockEvent:
    """A block seen on the loop thread, handed to the watchdog to become an incident.

    ``kind`` and ``episode`` name the samples the watchdog took while it lasted: the
    step's start for a timed step, the last heartbeat before it for anything else.
    ``queued`` is counted up by the loop thread after the block ended (requests that
    arrived within :data:`LATE_GRACE`); the watchdog reads it once the grace is over.
    """

    __slots__ = ("busy_routes", "end", "episode", "gil", "kind", "queued", "route", "stalled",
                 "start")  # fmt: skip

    def __init__(
        self,
        kind: Literal["step", "beat"],
        episode: float,
        start: float,
        end: float,
        route: str | None,
        stalled: int,
        *,
        gil: bool = False,
        busy_routes: tuple[tuple[str, int], ...] = (),
    ) -> None:
        self.kind = kind
        self.episode = episode
        self.start = start
        self.end = end
        self.route = route
        self.stalled = stalled
        self.gil = gil
        self.busy_routes = busy_routes
        self.queued = 0


@dataclass(frozen=True, slots=True)
class _Sample:
    episode: Episode
    # How long the loop had been held when this sample was taken.
    held: float
    steps: int
    # Innermost first: (id of the frame object, its code, its line).
    frames: tuple[tuple[int, CodeType, int], ...]
    # When it was taken, and the loop thread's and the process's CPU clocks then
    # (None where the platform has no per-thread CPU clock).
    at: float = 0.0
    loop_cpu: float | None = None
    process_cpu: float = 0.0


class Watchdog:
    """The daemon thread that watches one loop through its :class:`LoopState`.

    Args:
        state: what the loop thread shares.
        incidents: where finished incidents go.
        errors: where poise's own failures go.
    """

    def __init__(
        self, state: LoopState, *, incidents: IncidentStore, errors: InternalErrors
    ) -> None:
        self._state = state
        self._incidents = incidents
        self._errors = errors
        self._poll = min(MAX_POLL, max(MIN_POLL, state.threshold / 4))
        self._stopping = False
        self._events: deque[BlockEvent] = deque()
        self._samples: deque[_Sample] = deque(maxlen=MAX_SAMPLES)
        self._loop_clock: Callable[[], float] | None = None
        self._thread = threading.Thread(target=self._run, name="poise-watchdog", daemon=True)

    def start(self) -> None:
        self._loop_clock = _thread_cpu_clock(self._state.loop_thread_id)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to finish; it does within one poll interval."""
        self._stopping = True

    def join(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)

    def submit(self, event: BlockEvent) -> None:
        """Hand over a block that just ended (called on the loop thread)."""
        self._events.append(event)

    def _run(self) -> None:
        poll = self._poll
        idle_poll = poll * IDLE_SLOWDOWN
        state = self._state
        inflight = state.inflight
        while True:
            # Blocks outside any request are still caught while idle, sampled less often.
            sleep(poll if inflight or state.step_started else idle_poll)
            if self._stopping:
                break
            try:
                self._check()
                self._drain()
                self._incidents.flush()
            except Exception as exc:  # pragma: no cover - defensive: never kill the thread
                self._errors.report("watchdog", exc)
        self._drain(final=True)
        self._incidents.flush()

    # -- sampling ------------------------------------------------------------------

    def _check(self) -> None:
        state = self._state
        now = perf_counter()
        started = state.step_started
        early = state.threshold / 2
        episode: Episode
        if started and now - started >= early:
            episode = ("step", started)
            held = now - started
        elif state.last_beat and now - state.last_beat >= state.beat_interval + early:
            episode = ("beat", state.last_beat)
            held = now - state.last_beat - state.beat_interval
        else:
            return
        frame = sys._current_frames().get(state.loop_thread_id)
        if frame is None:
            return
        frames: list[tuple[int, CodeType, int]] = []
        while frame is not None and len(frames) < MAX_DEPTH:
            frames.append((id(frame), frame.f_code, frame.f_lineno))
            frame = frame.f_back
        loop_cpu = None
        clock = self._loop_clock
        if clock is not None:
            try:
                loop_cpu = clock()
            except OSError:  # the thread is gone (the loop closed)
                loop_cpu = None
        sample = _Sample(episode, held, state.steps, tuple(frames), perf_counter(), loop_cpu,
                         _time.process_time())  # fmt: skip
        previous = self._samples[-1] if self._samples else None
        self._samples.append(sample)
        if previous is not None and previous.episode == episode and _gil_starved(previous, sample):
            state.gil_starved = episode[1]
        if episode[0] == "beat" and self._stuck(episode):
            state.confirmed_beat_block = episode[1]

    def _stuck(self, episode: Episode) -> bool:
        """Whether the loop has stayed inside one and the same callback invocation.

        Lag alone (many short callbacks queued) also makes the heartbeat late; a block
        is one invocation holding the loop: two or more samples with no timed step in
        between, the same entry frame below the loop's machinery, and the same
        innermost code and line.
        """
        samples = [s for s in self._samples if s.episode == episode]
        if len(samples) < 2:
            return False
        first = samples[0]
        machinery = self._state.machinery
        entry = _entry(first.frames, machinery)
        if entry is None:
            return False
        for sample in samples[1:]:
            if sample.steps != first.steps:
                return False
            if _entry(sample.frames, machinery) != entry:
                return False
            if sample.frames[0][1:] != first.frames[0][1:]:
                return False
        return True

    # -- incidents -------------------------------------------------------------------

    def _drain(self, *, final: bool = False) -> None:
        now = perf_counter()
        while self._events:
            event = self._events[0]
            if not final and now - event.end < LATE_GRACE:
                break  # late victims may still be arriving
            self._events.popleft()
            episode = (event.kind, event.episode)
            samples = [s for s in self._samples if s.episode == episode]
            stack = _block_stack(samples, self._state.threshold, self._state.machinery)
            # No frame of the app's own in the stack while thread-pool jobs ran: the
            # loop thread was most likely waiting for the GIL (the CPU clocks could not
            # confirm it: too few samples). The busy routes are named instead.
            # Only a stack that was sampled, and holds no frame of the app's own, can say
            # GIL: a time.sleep uses no CPU either, so the clocks alone cannot tell it
            # from waiting for the GIL, and an empty stack is no evidence.
            app_frame = any(not frame.library for frame in stack)
            gil = bool(stack) and not app_frame and (event.gil or bool(event.busy_routes))
            incident = Incident(
                at=time() - (now - event.start),
                duration_s=event.end - event.start,
                route=None if gil else event.route,
                stack=stack,
                stalled_requests=event.stalled,
                queued_requests=event.queued,
                gil=gil,
                busy_routes=event.busy_routes if gil else (),
            )
            self._incidents.add(incident)


def _block_stack(
    samples: Sequence[_Sample], threshold: float, machinery: frozenset[CodeType]
) -> tuple[StackFrame, ...]:
    """Where one block held the loop, from the samples taken during it.

    Samples taken before the threshold was reached may show the step on its way to the
    blocking call; when later ones exist, they tell where it was held. A sample taken
    as the step was ending (the handler had returned, the framework was rendering its
    answer) shares only the framework's frames with the others; when some samples hold
    the app's own code, they are the ones that say where (seen in CI: a 300 ms
    ``time.sleep`` two calls deep reported with no app frame at all).
    """
    late = [s for s in samples if s.held >= threshold]
    chosen = late or list(samples)
    in_app = [s for s in chosen if _has_app_frame(s)]
    return _common_stack(in_app or chosen, machinery)


def _has_app_frame(sample: _Sample) -> bool:
    return any(not is_library_file(code.co_filename) for _id, code, _line in sample.frames)


def _gil_starved(before: _Sample, after: _Sample) -> bool:
    """Between two samples of one block: was the loop thread starved by other threads?"""
    if before.loop_cpu is None or after.loop_cpu is None:
        return False
    wall = after.at - before.at
    if wall <= 0:
        return False
    loop = after.loop_cpu - before.loop_cpu
    others = (after.process_cpu - before.process_cpu) - loop
    return loop < GIL_LOOP_SHARE * wall and others > GIL_OTHERS_SHARE * wall


def _thread_cpu_clock(thread_id: int) -> Callable[[], float] | None:
    """A function reading ``thread_id``'s CPU clock, where the platform has one."""
    try:
        clock_id = _time.pthread_getcpuclockid(thread_id)
        _time.clock_gettime(clock_id)
    except (AttributeError, OSError, OverflowError):
        return None

    def read() -> float:
        return _time.clock_gettime(clock_id)

    return read


def _entry(
    frames: Sequence[tuple[int, CodeType, int]], machinery: frozenset[CodeType]
) -> tuple[int, CodeType] | None:
    """The outermost frame that is not the loop's own machinery: the callback or step."""
    for frame_id, code, _line in reversed(frames):
        if code not in machinery:
            return frame_id, code
    return None


def _common_stack(
    samples: Sequence[_Sample], machinery: frozenset[CodeType]
) -> tuple[StackFrame, ...]:
    """The frames every sample shares, from the loop's entry inwards; innermost last.

    Frames are compared by identity (the same frame object, so the same invocation),
    not by line: a handler that blocked first on line 75 and then on line 76 is one
    frame that stayed. Its line is the one most samples saw (the latest on a tie).
    """
    if not samples:
        return ()
    stacks = [tuple(reversed(s.frames)) for s in samples]  # outermost first
    common: list[tuple[CodeType, int]] = []
    for position, (frame_id, code, _line) in enumerate(stacks[0]):
        lines = []
        for stack in stacks:
            if len(stack) <= position or stack[position][:2] != (frame_id, code):
                break
            lines.append(stack[position][2])
        else:
            counts = Counter(lines)
            best = max(counts.values())
            common.append((code, next(n for n in reversed(lines) if counts[n] == best)))
            continue
        break
    while common and common[0][0] in machinery:
        common.pop(0)
    return tuple(StackFrame.of(code, line) for code, line in common)
