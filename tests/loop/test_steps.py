"""timed_steps drives a coroutine exactly as the event loop would: send, throw, close."""

from __future__ import annotations

import asyncio
import gc
import sys
import types
import warnings
from collections.abc import Coroutine, Generator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from poise import Ledger
from poise.loop.state import LoopState
from poise.loop.steps import task_factory, timed_steps


def monitor(threshold: float = 10.0) -> LoopState:
    return LoopState(threshold=threshold, beat_interval=0.05)


def timed(coro: Coroutine[Any, Any, Any], ledger: Ledger | None = None) -> Any:
    return timed_steps(coro, ledger or Ledger("GET"), monitor())


@pytest.mark.anyio
async def test_result_and_exceptions_pass_through() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    async def fail() -> None:
        await asyncio.sleep(0)
        raise KeyError("missing")

    assert await timed(answer()) == 42
    with pytest.raises(KeyError, match="missing"):
        await timed(fail())


@pytest.mark.anyio
async def test_each_step_is_counted() -> None:
    ledger = Ledger("GET")
    timer_monitor = monitor()

    async def three_steps() -> None:
        for _ in range(3):
            await asyncio.sleep(0)

    await timed_steps(three_steps(), ledger, timer_monitor)
    assert timer_monitor.steps == 4  # three suspensions, then the step that returns
    assert ledger.on_loop > 0
    assert timer_monitor.current is None
    assert timer_monitor.step_started == 0.0


@pytest.mark.anyio
async def test_cancellation_is_thrown_into_the_wrapped_coroutine() -> None:
    """asyncio.timeout cancels by throwing CancelledError into the coroutine."""
    cleaned_up = []

    async def slow() -> str:
        try:
            await asyncio.sleep(10)
        finally:
            cleaned_up.append("finally ran")
        return "never"

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.02):
            await timed(slow())
    assert cleaned_up == ["finally ran"]


@pytest.mark.anyio
async def test_anyio_cancel_scope_and_a_swallowed_cancellation() -> None:
    async def patient() -> str:
        with anyio.move_on_after(0.02):
            await anyio.sleep(10)
        await anyio.lowlevel.checkpoint()
        return "moved on"

    assert await timed(patient()) == "moved on"


@pytest.mark.anyio
async def test_task_group_inside_a_timed_coroutine() -> None:
    async def group() -> list[int]:
        results: list[int] = []

        async def worker(n: int) -> None:
            await anyio.sleep(0.001 * n)
            results.append(n)

        async with anyio.create_task_group() as tasks:
            for n in (3, 1, 2):
                tasks.start_soon(worker, n)
        return results

    assert await timed(group()) == [1, 2, 3]


@types.coroutine
def suspend() -> Generator[None, None, None]:
    """Yield to whoever drives the coroutine, as a real await on a future would."""
    yield


def test_throw_and_close_are_forwarded() -> None:
    events: list[str] = []

    async def inner() -> str:
        try:
            await suspend()
        except ValueError as exc:
            events.append(f"caught {exc}")
        try:
            await suspend()
        finally:
            events.append("closed")
        return "unreachable"

    timer = timed(inner())
    timer.send(None)  # runs up to the first sleep
    timer.throw(ValueError("from outside"))  # handled; runs up to the second sleep
    timer.close()
    assert events == ["caught from outside", "closed"]


def test_a_non_coroutine_awaitable_is_driven_through_its_iterator() -> None:
    class Ready:
        def __await__(self) -> Any:
            yield None
            return "ready"

    timer = timed(Ready())  # type: ignore[arg-type]
    assert timer.send(None) is None
    with pytest.raises(StopIteration) as stop:
        timer.send(None)
    assert stop.value.value == "ready"


@pytest.mark.anyio
async def test_task_factory_times_only_tasks_spawned_by_a_request() -> None:
    from poise.ledger import _current

    loop = asyncio.get_running_loop()
    created: list[Any] = []

    def previous(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        created.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    factory = task_factory(monitor(), previous)

    async def child() -> str:
        return "done"

    outside = factory(loop, child())
    assert created[-1].cr_code is child.__code__  # left alone
    assert await outside == "done"

    ledger = Ledger("GET")
    token = _current.set(ledger)
    try:
        inside = factory(loop, child())
    finally:
        _current.reset(token)
    assert created[-1].cr_code.co_name == "_timed_task"
    # It carries the app's coroutine's names: repr(task) and task dumps show `child`.
    assert created[-1].__qualname__ == child.__qualname__
    assert "child()" in repr(inside)
    assert await inside == "done"
    assert ledger.on_loop > 0


@pytest.mark.anyio
async def test_a_task_cancelled_before_its_first_step_warns_nothing() -> None:
    """Regression: the wrapper never started, and the app's coroutine was reported
    "coroutine 'work' was never awaited" when collected (suites turn that into errors)."""
    from poise.ledger import _current

    loop = asyncio.get_running_loop()
    factory = task_factory(monitor(), None)

    async def work() -> None:
        await asyncio.sleep(1)

    ledger = Ledger("GET")
    token = _current.set(ledger)
    try:
        task = factory(loop, work())
    finally:
        _current.reset(token)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    unraisable: list[object] = []
    previous = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            del task
            gc.collect()
    finally:
        sys.unraisablehook = previous
    assert unraisable == []
