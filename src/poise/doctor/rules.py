"""The rules ``poise doctor`` reports: stable ids, default severities and fixes.

Each one has a section in ``docs/rules.md`` with a bad and a good example; the SARIF
reporter takes its rule metadata from here, and a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["DOCS_URL", "RULES", "SEVERITY_RANK", "Rule", "Severity"]

Severity = Literal["error", "warning", "info"]

# Higher is worse; `--fail-on` compares against this.
SEVERITY_RANK: Final[dict[str, int]] = {"info": 1, "warning": 2, "error": 3}

DOCS_URL: Final = "https://github.com/poise-dev/poise/blob/main/docs/rules.md"


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: what it finds (``title``), why it matters, and the usual fix."""

    id: str
    name: str
    severity: Severity
    title: str
    why: str
    fix: str

    @property
    def help_uri(self) -> str:
        return f"{DOCS_URL}#{self.id.lower()}"


_RULES: Final = (
    Rule(
        "PSE101",
        "blocking-call-in-async",
        "error",
        "Blocking network, database, sleep or subprocess call on the event loop",
        "A synchronous call reached from an async entry point holds the event loop for "
        "its whole duration: every other request on the worker waits.",
        "Use the library's async API (httpx.AsyncClient, asyncpg, redis.asyncio, "
        "asyncio.sleep), or hand the call to a worker thread with "
        "anyio.to_thread.run_sync / run_in_threadpool.",
    ),
    Rule(
        "PSE102",
        "blocking-file-io-in-async",
        "warning",
        "Blocking file-system call on the event loop",
        "File operations block the loop; on a slow or network disk for many milliseconds.",
        "Use anyio.Path / anyio.open_file (they run in a worker thread) or offload the "
        "whole file operation with anyio.to_thread.run_sync.",
    ),
    Rule(
        "PSE103",
        "cpu-heavy-in-async",
        "warning",
        "CPU-heavy call on the event loop",
        "Hashing, compression, image or dataframe work holds the loop for as long as it "
        "computes; no other request runs meanwhile.",
        "Run it in a worker thread (anyio.to_thread.run_sync) or, for long pure-Python "
        "work, in a process pool.",
    ),
    Rule(
        "PSE104",
        "client-per-request",
        "error",
        "Client, engine or pool created per request",
        "A new client per request opens new connections (and TLS sessions) every time, "
        "defeats pooling and can exhaust sockets or database connections under load.",
        "Create it once in the app's lifespan, keep it on app.state, share it through a "
        "dependency, and close it on shutdown.",
    ),
    Rule(
        "PSE105",
        "missing-timeout",
        "warning",
        "Outbound call without a timeout",
        "A dependency that never answers holds the request (and its connection, thread "
        "or pool slot) forever; under load these pile up until the worker stops serving.",
        "Pass an explicit timeout (requests: timeout=(connect, read); httpx: "
        "httpx.Timeout(...); aiohttp: ClientTimeout(total=...); smtplib: timeout=...).",
    ),
    Rule(
        "PSE106",
        "blocking-background-task",
        "warning",
        "Background task doing heavy blocking work",
        "A sync BackgroundTasks task runs in the same process's thread pool, after the "
        "response: long or heavy work there competes with every sync route and "
        "dependency for the pool's threads and is lost if the process stops.",
        "Move heavy or long work to a job queue (taskiq, arq, celery), or keep the task short.",
    ),
    Rule(
        "PSE107",
        "on-event-deprecated",
        "info",
        "Deprecated on_event start-up / shutdown handler",
        "on_event handlers are deprecated in Starlette and FastAPI and do not compose "
        "with a lifespan.",
        "Move the start-up and shutdown code into a lifespan context manager.",
    ),
    Rule(
        "PSE108",
        "sync-route-or-dependency",
        "info",
        "Sync def route or dependency: a thread-pool jump per request",
        "FastAPI runs every sync def route and dependency in the thread pool (40 threads "
        "by default): each one costs a thread hand-off per request and queues when the "
        "pool is busy.",
        "Fine for blocking work; make it async def if it does not block, so it runs on "
        "the loop without a jump.",
    ),
    Rule(
        "PSE109",
        "nested-event-loop",
        "error",
        "asyncio.run, run_until_complete or a nested event loop inside an async path",
        "Starting or re-entering an event loop from code that already runs on one "
        "either raises RuntimeError or blocks the running loop until the inner one ends.",
        "await the coroutine instead.",
    ),
    Rule(
        "PSE110",
        "oversized-pool",
        "warning",
        "Connection pool larger than the per-process budget",
        "Each worker process opens its own pool: pool_size + max_overflow connections "
        "times the number of workers quickly exceeds the database's max_connections "
        "(PostgreSQL: 100 by default), shared by every client.",
        "Size the pool from the database's budget divided by the number of processes "
        "(10-20 per worker is typical), with a short pool_timeout.",
    ),
)

RULES: Final[dict[str, Rule]] = {rule.id: rule for rule in _RULES}
