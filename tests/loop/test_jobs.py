"""The thread-pool job record: which routes held threads during a block.

A block's culprits are the jobs that ran while it lasted. By the time the block ends,
the jobs that starved the loop of the GIL may just have finished (a closed-loop crowd's
threads between two requests): counting only the jobs running at that instant filed
``gil_starved`` incidents that named no route (tests/loop/test_gil.py, seen once in CI).
"""

from __future__ import annotations

from time import perf_counter

import anyio
import anyio.to_thread
import pytest

from poise.ledger import Ledger, _current
from poise.loop import threadpool
from poise.loop.threadpool import Jobs


def label(ledger: Ledger) -> str:
    return f"{ledger.method} {ledger.route}"


def ledger(route: str) -> Ledger:
    made = Ledger("GET")
    made.route = route
    return made


def test_busy_routes_counts_running_jobs_and_those_that_ended_during_the_block() -> None:
    jobs = Jobs()
    jobs.running[object()] = ledger("/running")
    jobs.running[object()] = None
    jobs.recent.append((10.0, ledger("/before")))
    jobs.recent.append((12.0, ledger("/during")))
    jobs.recent.append((13.0, ledger("/during")))
    assert jobs.busy_routes(label) == {"GET /running": 1, "<no request>": 1}
    assert jobs.busy_routes(label, since=11.0) == {
        "GET /during": 2,
        "GET /running": 1,
        "<no request>": 1,
    }


def test_recent_is_bounded() -> None:
    jobs = Jobs()
    for i in range(threadpool.RECENT + 10):
        jobs.recent.append((float(i), None))
    assert len(jobs.recent) == threadpool.RECENT
    assert jobs.recent[0][0] == 10.0


@pytest.mark.anyio
async def test_a_finished_thread_pool_call_is_remembered_with_its_request() -> None:
    """Through the real instrumentation: a call that ended after ``since`` still counts."""
    restore = threadpool.instrument()
    try:
        request = ledger("/sync")
        token = _current.set(request)
        try:
            since = perf_counter()
            await anyio.to_thread.run_sync(sum, [1, 2])
        finally:
            _current.reset(token)
        assert not any(held is request for held in threadpool.jobs.ledgers())
        assert threadpool.jobs.busy_routes(label, since=since)["GET /sync"] == 1
        assert "GET /sync" not in threadpool.jobs.busy_routes(label, since=perf_counter())
    finally:
        restore()
