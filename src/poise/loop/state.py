"""The state the loop thread and the watchdog thread share about one event loop.

One small object, handed to both sides: the step driver (``steps.py``) writes which
request's step is running and since when; the heartbeat writes when it last ran; the
watchdog (``watchdog.py``) reads those and writes back what it confirmed. Each field is
a plain attribute written by one thread: a reader on the other sees either the old or
the new value, never a torn one, which is all it needs. Neither side imports the other
or the monitor that wires them.
"""

from __future__ import annotations

from collections.abc import Callable
from types import CodeType

from poise.ledger import Ledger
from poise.types import Scope

__all__ = ["BlockHandler", "LoopState"]

#: Called on the loop thread when a timed step of ``ledger``'s request held the loop
#: from ``start`` to ``end`` (``perf_counter`` seconds) for at least the threshold.
BlockHandler = Callable[[Ledger, float, float], None]


def _ignore_block(ledger: Ledger, start: float, end: float) -> None:
    return None


class LoopState:
    """Shared by the step driver, the heartbeat and the watchdog of one loop.

    Attributes:
        threshold: a step at least this long is a block (seconds).
        beat_interval: seconds between two heartbeats.
        current: the ledger whose step is running now (loop thread writes).
        step_started: when that step began (``perf_counter``), 0.0 between steps.
        steps: how many timed steps have ended.
        last_beat: when the heartbeat last ran (``perf_counter``), 0.0 before the first.
        loop_thread_id: ``threading.get_ident()`` of the loop thread.
        machinery: code objects of the loop's own frames (runner, ``_run_once``...),
            the frames above any callback or task step.
        confirmed_beat_block: the heartbeat episode the watchdog saw stuck in one place
            (watchdog writes).
        gil_starved: the start of the timed step (or heartbeat episode) during which the
            watchdog saw the loop thread get little CPU while worker threads had it
            (watchdog writes); -1.0 when none.
        inflight: the requests in flight, each with its scope and root path (loop
            thread only; the watchdog reads whether it is empty).
        on_block: called when a timed step blocked (loop thread).
    """

    __slots__ = (
        "beat_interval",
        "confirmed_beat_block",
        "current",
        "gil_starved",
        "inflight",
        "last_beat",
        "loop_thread_id",
        "machinery",
        "on_block",
        "step_started",
        "steps",
        "threshold",
    )

    def __init__(self, *, threshold: float, beat_interval: float) -> None:
        self.threshold = threshold
        self.beat_interval = beat_interval
        self.current: Ledger | None = None
        self.step_started = 0.0
        self.steps = 0
        self.last_beat = 0.0
        self.loop_thread_id = 0
        self.machinery: frozenset[CodeType] = frozenset()
        self.confirmed_beat_block = -1.0
        self.gil_starved = -1.0
        self.inflight: dict[Ledger, tuple[Scope, str]] = {}
        self.on_block: BlockHandler = _ignore_block
