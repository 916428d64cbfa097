"""Incidents: the stack kept, the ring bounded, the log rate-limited per code site."""

from __future__ import annotations

import logging
import types
from pathlib import Path

import pytest

import poise
from poise.loop.incidents import (
    Incident,
    IncidentStore,
    StackFrame,
    format_incident,
    is_library_file,
)
from poise.loop.watchdog import _block_stack, _common_stack, _Sample


def incident(line: int = 10, *, route: str | None = "GET /a", duration: float = 0.3) -> Incident:
    stack = (
        StackFrame("/venv/site-packages/starlette/routing.py", 70, "app", True),
        StackFrame("/srv/app/main.py", line, "handler", False),
    )
    return Incident(at=0.0, duration_s=duration, route=route, stack=stack, stalled_requests=2)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_hot_blocker_is_logged_once_per_interval_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    store = IncidentStore(capacity=50, clock=clock)
    with caplog.at_level(logging.WARNING, logger="poise"):
        for _ in range(1000):
            store.add(incident())
            clock.now += 0.05  # 1,000 blocks in 50 s
        assert len(caplog.records) == 1
        clock.now += 20  # past the minute
        store.add(incident())
    assert len(caplog.records) == 2
    first, second = (record.getMessage() for record in caplog.records)
    assert first.startswith("poise: the event loop was blocked for 0.300 s by GET /a at ")
    assert "/srv/app/main.py:10 in handler()" in first
    assert "[999 more block(s) here in the last 60 s, not logged]" in second
    assert store.total == 1001
    assert store.blocked_s == pytest.approx(300.3)
    assert len(store.recent()) == 50


def test_blocks_without_a_stack_wait_for_one_with_a_stack(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    store = IncidentStore(capacity=10, clock=clock)
    stackless = Incident(at=0.0, duration_s=0.06, route="GET /a", stack=(), stalled_requests=0)
    with caplog.at_level(logging.WARNING, logger="poise"):
        store.add(stackless)  # the first block of a burst, missed by an idle watchdog
        store.add(stackless)
        clock.now += 0.2
        store.add(incident())  # the same route, this time with its stack
        store.flush()
        assert len(caplog.records) == 1
        assert "/srv/app/main.py:10" in caplog.records[0].getMessage()
        # More stackless blocks of a route logged a moment ago: counted, not logged.
        for _ in range(3):
            store.add(stackless)
        clock.now += 2
        store.flush()
        assert len(caplog.records) == 1
        # A route that only ever blocks without a stack is still logged, after the
        # grace period, by its route.
        clock.now += 61
        store.add(stackless)
        store.flush()
        assert len(caplog.records) == 1
        clock.now += 2
        store.flush()
    assert len(caplog.records) == 2
    assert "blocked for 0.060 s by GET /a;" in caplog.records[1].getMessage()
    assert "more block(s) here" in caplog.records[1].getMessage()
    assert store.total == 7


def test_distinct_sites_are_logged_separately(caplog: pytest.LogCaptureFixture) -> None:
    store = IncidentStore(capacity=10, clock=FakeClock())
    with caplog.at_level(logging.WARNING, logger="poise"):
        store.add(incident(10))
        store.add(incident(11))
        store.add(incident(10))
    assert len(caplog.records) == 2


def test_recent_is_newest_first_and_json_shaped() -> None:
    store = IncidentStore(capacity=3, clock=FakeClock())
    for n in range(5):
        store.add(incident(route=f"GET /{n}"))
    recent = store.recent()
    assert [i.route for i in recent] == ["GET /4", "GET /3", "GET /2"]
    data = recent[0].to_dict()
    assert set(data) == {
        "kind", "at", "duration_s", "route", "stack", "stalled_requests", "queued_requests",
        "victims", "busy_routes",
    }  # fmt: skip
    assert (data["kind"], data["victims"], data["busy_routes"]) == ("block", 2, {})
    assert data["stack"][-1] == {
        "file": "/srv/app/main.py", "line": 10, "function": "handler", "library": False
    }  # fmt: skip


def test_log_text_lists_the_stack_innermost_last_with_user_frames_marked() -> None:
    text = format_incident(incident(route=None))
    lines = text.splitlines()
    assert "by code outside any request" in lines[0]
    assert lines[1] == "    /venv/site-packages/starlette/routing.py:70 in app"
    assert lines[2] == "  > /srv/app/main.py:10 in handler"


def test_site_falls_back_to_the_innermost_library_frame() -> None:
    only_library = Incident(0.0, 0.1, None, (StackFrame("/lib/x.py", 1, "f", True),), 0)
    assert only_library.site == StackFrame("/lib/x.py", 1, "f", True)
    assert Incident(0.0, 0.1, None, (), 0).site is None


def test_a_request_site_is_looked_for_below_the_step_driver_only() -> None:
    """Regression: with an in-process client the caller's frames share the stack; a
    block whose samples parted below the handler was filed under the caller's line."""
    from poise.loop import steps

    driver = StackFrame(steps.__file__, 63, "timed_steps", True)
    caller = StackFrame("/srv/tests/test_app.py", 14, "test_it", False)
    framework = StackFrame("/venv/site-packages/fastapi/routing.py", 161, "app", True)
    handler = StackFrame("/srv/app/main.py", 10, "handler", False)
    in_handler = Incident(0.0, 0.1, "GET /x", (caller, driver, framework, handler), 0)
    assert in_handler.site == handler
    parted = Incident(0.0, 0.1, "GET /x", (caller, driver, framework), 0)
    assert parted.site is None  # no user frame inside the request: no site, the route
    outside = Incident(0.0, 0.1, None, (caller, framework), 0)
    assert outside.site == caller


def test_library_classification() -> None:
    assert is_library_file(logging.__file__)
    assert is_library_file(pytest.__file__)
    assert is_library_file(str(Path(poise.__file__)))  # poise's own frames are library frames
    assert is_library_file("<frozen importlib._bootstrap>")
    assert not is_library_file(__file__)


def test_common_stack_keeps_the_frames_that_stayed_the_same() -> None:
    def code(name: str) -> types.CodeType:
        namespace: dict[str, object] = {}
        exec(f"def {name}(): pass", namespace)
        function = namespace[name]
        assert isinstance(function, types.FunctionType)
        return function.__code__

    runner, handler, helper, json_a, json_b = (
        code(n) for n in ("run", "handler", "helper", "a", "b")
    )
    outer = ((4, helper, 20), (3, handler, 10), (1, runner, 1))
    samples = [
        _Sample(("step", 1.0), 0.1, 0, ((5, json_a, 3), *outer)),
        _Sample(("step", 1.0), 0.2, 0, ((6, json_b, 8), *outer)),
    ]
    stack = _common_stack(samples, frozenset({runner}))
    assert [(f.function, f.line) for f in stack] == [("handler", 10), ("helper", 20)]
    assert _common_stack([], frozenset()) == ()

    # The same handler invocation (frame 3) seen on two lines: it stayed, on the line
    # most samples saw. A new invocation (frame 9) of the same code did not.
    moving = [
        _Sample(("step", 1.0), 0.1, 0, ((3, handler, 10), (1, runner, 1))),
        _Sample(("step", 1.0), 0.2, 0, ((3, handler, 11), (1, runner, 1))),
        _Sample(("step", 1.0), 0.3, 0, ((3, handler, 11), (1, runner, 1))),
    ]
    assert [(f.function, f.line) for f in _common_stack(moving, frozenset({runner}))] == [
        ("handler", 11)
    ]
    other_call = [*moving, _Sample(("step", 1.0), 0.4, 0, ((9, handler, 11), (1, runner, 1)))]
    assert _common_stack(other_call, frozenset({runner})) == ()


def test_block_stack_prefers_late_samples_that_hold_the_app_frames() -> None:
    def code(name: str, filename: str) -> types.CodeType:
        namespace: dict[str, object] = {}
        exec(compile(f"def {name}(): pass", filename, "exec"), namespace)
        function = namespace[name]
        assert isinstance(function, types.FunctionType)
        return function.__code__

    library = logging.__file__
    runner, framework, render = (code(n, library) for n in ("run", "app", "render"))
    handler, inner, on_the_way = (code(n, __file__) for n in ("handler", "inner", "prepare"))
    base = ((2, framework, 5), (1, runner, 1))
    in_handler = ((4, inner, 13), (3, handler, 10), *base)
    samples = [
        # Before the threshold: on its way to the blocking call.
        _Sample(("step", 1.0), 0.06, 0, ((5, on_the_way, 7), (3, handler, 9), *base)),
        _Sample(("step", 1.0), 0.15, 0, in_handler),
        _Sample(("step", 1.0), 0.25, 0, in_handler),
        # As the step ended: the handler had returned, the framework renders.
        _Sample(("step", 1.0), 0.30, 0, ((6, render, 40), *base)),
    ]
    stack = _block_stack(samples, 0.1, frozenset({runner}))
    assert [(f.function, f.line) for f in stack] == [("app", 5), ("handler", 10), ("inner", 13)]
    # The last sample alone would have named no frame of the app's own.
    assert all(f.library for f in _common_stack(samples[1:], frozenset({runner})))
    # A block in library code only (no sample holds an app frame) keeps its stack.
    only_library = [_Sample(("step", 1.0), 0.2, 0, ((6, render, 40), *base))]
    assert [f.function for f in _block_stack(only_library, 0.1, frozenset({runner}))] == [
        "app",
        "render",
    ]
    # Only early samples: they are all there is.
    early = samples[:1]
    assert [f.function for f in _block_stack(early, 0.1, frozenset({runner}))] == [
        "app",
        "handler",
        "prepare",
    ]


def test_victims_count_the_requests_queued_in_the_server_and_gil_is_its_own_kind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = IncidentStore(capacity=10, clock=FakeClock())
    queued = Incident(at=0.0, duration_s=2.0, route="GET /sleepy",
                      stack=incident().stack, stalled_requests=1,
                      queued_requests=3)  # fmt: skip
    gil = Incident(at=0.0, duration_s=0.09, route=None, stack=(), stalled_requests=2,
                   gil=True, busy_routes=(("GET /crunch", 3),))  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="poise"):
        store.add(queued)
        store.add(gil)
    assert queued.victims == 4
    assert queued.to_dict()["queued_requests"] == 3
    assert gil.to_dict()["kind"] == "gil_starved"
    assert gil.to_dict()["busy_routes"] == {"GET /crunch": 3}
    text = caplog.text
    assert "4 other request(s) waited (3 of them queued in the server meanwhile)" in text
    assert "loop starved by thread-pool work (GIL)" in text
    assert "GET /crunch x3" in text
