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
:class:`BlockEvent`); the
watchdog then turns it and its samples into an incident, rendering the stack here
rather than on the loop.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from time import perf_counter, sleep, time
from types import CodeType
from typing import TYPE_CHECKING, Final, Literal

from poise._internal import InternalErrors
from poise.loop.incidents import Incident, StackFrame

if TYPE_CHECKING:
    from poise.loop.monitor import LoopMonitor

__all__ = ["BlockEvent", "Watchdog"]

MIN_POLL: Final = 0.002
MAX_POLL: Final = 0.025
IDLE_SLOWDOWN: Final = 4
MAX_SAMPLES: Final = 512
MAX_DEPTH: Final = 128

Episode = tuple[str, float]


@dataclass(frozen=True, slots=True)
class BlockEvent:
    """A block seen on the loop thread, handed to the watchdog to become an incident.

    ``kind`` and ``episode`` name the samples the watchdog took while it lasted: the
    step's start for a timed step, the last heartbeat before it for anything else.
    """

    kind: Literal["step", "beat"]
    episode: float
    start: float
    end: float
    route: str | None
    stalled_requests: int


@dataclass(frozen=True, slots=True)
class _Sample:
    episode: Episode
    # How long the loop had been held when this sample was taken.
    held: float
    steps: int
    # Innermost first: (id of the frame object, its code, its line).
    frames: tuple[tuple[int, CodeType, int], ...]


class Watchdog:
    """The daemon thread that watches one loop through its :class:`LoopMonitor`."""

    def __init__(self, monitor: LoopMonitor, *, errors: InternalErrors) -> None:
        self._monitor = monitor
        self._errors = errors
        self._poll = min(MAX_POLL, max(MIN_POLL, monitor.threshold / 4))
        self._stopping = False
        self._events: deque[BlockEvent] = deque()
        self._samples: deque[_Sample] = deque(maxlen=MAX_SAMPLES)
        self._thread = threading.Thread(target=self._run, name="poise-watchdog", daemon=True)

    def start(self) -> None:
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
        inflight = self._monitor.inflight
        while True:
            # Blocks outside any request are still caught while idle, sampled less often.
            sleep(poll if inflight or self._monitor.step_started else idle_poll)
            if self._stopping:
                break
            try:
                self._check()
                self._drain()
                self._monitor.incidents.flush()
            except Exception as exc:  # pragma: no cover - defensive: never kill the thread
                self._errors.report("watchdog", exc)
        self._drain()
        self._monitor.incidents.flush()

    # -- sampling ------------------------------------------------------------------

    def _check(self) -> None:
        monitor = self._monitor
        now = perf_counter()
        started = monitor.step_started
        early = monitor.threshold / 2
        episode: Episode
        if started and now - started >= early:
            episode = ("step", started)
            held = now - started
        elif monitor.last_beat and now - monitor.last_beat >= monitor.beat_interval + early:
            episode = ("beat", monitor.last_beat)
            held = now - monitor.last_beat - monitor.beat_interval
        else:
            return
        frame = sys._current_frames().get(monitor.loop_thread_id)
        if frame is None:
            return
        frames: list[tuple[int, CodeType, int]] = []
        while frame is not None and len(frames) < MAX_DEPTH:
            frames.append((id(frame), frame.f_code, frame.f_lineno))
            frame = frame.f_back
        sample = _Sample(episode, held, monitor.steps, tuple(frames))
        self._samples.append(sample)
        if episode[0] == "beat" and self._stuck(episode):
            monitor.confirmed_beat_block = episode[1]

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
        entry = _entry(first.frames, self._monitor.machinery)
        if entry is None:
            return False
        for sample in samples[1:]:
            if sample.steps != first.steps:
                return False
            if _entry(sample.frames, self._monitor.machinery) != entry:
                return False
            if sample.frames[0][1:] != first.frames[0][1:]:
                return False
        return True

    # -- incidents -------------------------------------------------------------------

    def _drain(self) -> None:
        while self._events:
            event = self._events.popleft()
            episode = (event.kind, event.episode)
            samples = [s for s in self._samples if s.episode == episode]
            # Samples taken before the threshold was reached may show the step on its way
            # to the blocking call; when later ones exist, they tell where it was held.
            late = [s for s in samples if s.held >= self._monitor.threshold]
            incident = Incident(
                at=time() - (perf_counter() - event.start),
                duration_s=event.end - event.start,
                route=event.route,
                stack=_common_stack(late or samples, self._monitor.machinery),
                stalled_requests=event.stalled_requests,
            )
            self._monitor.incidents.add(incident)


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
