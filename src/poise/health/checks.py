"""Health checks: the registry's unit, how one runs, and the built-in checks.

A check is a sync or async callable. Each run is bounded by the check's timeout, its
result is kept for ``ttl`` seconds, and runs are single-flight: however many probes ask
at once, at most one run of a check is in progress, and all of them share its result.

A check that raises or times out is a failed check with the reason; it never breaks the
endpoint that reports it. A sync check runs in a worker thread; when it times out the
thread cannot be stopped, so it is abandoned (and counted): keep sync checks short.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import math
import re
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field, replace
from time import perf_counter
from typing import Any, Final, Literal

import anyio
import anyio.to_thread

__all__ = [
    "Check",
    "CheckResult",
    "Observation",
    "PoolState",
    "Status",
    "http",
    "postgres",
    "redis",
]

Status = Literal["pass", "warn", "fail"]

DEFAULT_TIMEOUT: Final = 1.0
DEFAULT_TTL: Final = 5.0
# A reason longer than this is cut: it goes into every /healthz answer.
MAX_OUTPUT: Final = 300
# The largest magnitude an observed number may have (beyond double precision's exact
# integers already; JSON readers would round it anyway).
MAX_NUMBER: Final = 1e15


@dataclass(frozen=True, slots=True)
class Observation:
    """One measurement a check reports, shown in ``/healthz`` as ``component:measurement``.

    Args:
        measurement: ``responseTime``, ``connections``, ``utilization``... (the IETF
            draft's names where one fits).
        value: the observed value (a number, a string or a boolean).
        unit: its unit (``ms``, ``%``...), or ``None``.
        status: this measurement's own status; the check's status is the worst of them.
        output: a short human reason, for anything but ``pass``.
    """

    measurement: str
    value: Any = None
    unit: str | None = None
    status: Status = "pass"
    output: str | None = None


@dataclass(frozen=True, slots=True)
class PoolState:
    """A connection pool's own counters, read without touching the pool.

    ``waiting`` is ``None`` when the pool does not say how many are waiting.
    """

    in_use: int
    size: int
    waiting: int | None

    @property
    def saturated(self) -> bool:
        """Every connection is in use and someone waits (or may wait) for one."""
        return self.size > 0 and self.in_use >= self.size and self.waiting != 0


#: What a check callable may return: ``None`` or ``True`` (pass), ``False`` (fail),
#: one :class:`Observation` or several.
CheckReturn = None | bool | Observation | list[Observation] | tuple[Observation, ...]
CheckFunction = Callable[[], CheckReturn | Awaitable[CheckReturn]]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One finished run of a check."""

    status: Status
    observations: tuple[Observation, ...]
    output: str | None
    at: float  # time.time() when it finished, for the "time" field
    monotonic: float  # time.monotonic() when it finished, for the TTL
    duration: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "output": self.output,
            "time": _iso(self.at),
            "duration_s": round(self.duration, 6),
        }


@dataclass(eq=False)
class Check:
    """A named health check.

    Args:
        name: the component name (``postgres``, ``payments-api``); unique per app.
        function: the sync or async callable that checks; see :data:`CheckReturn`.
        critical: a failing critical check makes the app not ready (``/readyz`` 503);
            a failing non-critical one makes ``/healthz`` say ``warn`` and nothing more.
        timeout: seconds one run may take before it counts as failed.
        ttl: seconds a result stays fresh: no new run is started before it expires.
        background: refresh the check as soon as its result expires, from a task of
            poise's own, so probes only ever read results. ``False``: run it on demand,
            when a probe finds its result expired (probes wait for that run, at most
            ``timeout``).
        component_type: the IETF ``componentType`` (``datastore``, ``component``...).
        pool: reads the counters of the connection pool this check is about, if any:
            a saturated pool makes the app not ready after ``ready_pool_window``.
    """

    name: str
    function: CheckFunction
    critical: bool = True
    timeout: float = DEFAULT_TIMEOUT
    ttl: float = DEFAULT_TTL
    background: bool = True
    component_type: str = "component"
    pool: Callable[[], PoolState | None] | None = None
    close: Callable[[], Awaitable[None]] | None = None

    # Runtime state, kept by the check's runner on the loop thread.
    result: CheckResult | None = field(default=None, init=False)
    runs: int = field(default=0, init=False)
    abandoned_threads: int = field(default=0, init=False)
    _flight: asyncio.Task[CheckResult] | None = field(default=None, init=False, repr=False)
    _thread_since: float | None = field(default=None, init=False, repr=False)
    _limiter: anyio.CapacityLimiter | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError("a health check needs a non-empty name")
        if not callable(self.function):
            raise TypeError(f"health check {self.name!r}: {self.function!r} is not callable")
        for what in ("timeout", "ttl"):
            value = getattr(self, what)
            if not isinstance(value, int | float) or not 0 < value <= 3600:
                raise ValueError(
                    f"health check {self.name!r}: {what}={value!r} must be a number of "
                    "seconds above 0 and at most 3600"
                )

    def fresh(self, now: float) -> bool:
        """Whether the last result is younger than the TTL (``now``: ``time.monotonic``)."""
        return self.result is not None and now - self.result.monotonic < self.ttl

    @property
    def running(self) -> bool:
        flight = self._flight
        return flight is not None and not flight.done() and _on_running_loop(flight)

    def refresh(self) -> asyncio.Task[CheckResult]:
        """Start a run unless one is in progress; either way, the run's task."""
        flight = self._flight
        loop = asyncio.get_running_loop()
        # A run of an earlier loop (the app served again, as test clients do) is dead.
        if flight is None or flight.done() or flight.get_loop() is not loop:
            flight = self._flight = loop.create_task(
                self._run(), name=f"poise health check {self.name}"
            )
        return flight

    async def current(self) -> CheckResult:
        """A fresh result: the cached one, or the one of a (shared) new run."""
        if self.result is not None and self.fresh(time.monotonic()):
            return self.result
        # shield: one probe giving up must not cancel the run the others wait for.
        return await asyncio.shield(self.refresh())

    async def _run(self) -> CheckResult:
        started = perf_counter()
        observations: tuple[Observation, ...] = ()
        output: str | None = None
        status: Status
        if self._thread_since is not None:
            # The last sync run's thread is still stuck: starting another would pile
            # threads up, one per TTL. Report the hang until that thread comes back.
            hung = time.monotonic() - self._thread_since
            status, output = "fail", f"still running after {hung:.1f} s (an earlier run hangs)"
            return self._keep(status, observations, output, started)
        self.runs += 1
        try:
            with anyio.fail_after(self.timeout):
                if inspect.iscoroutinefunction(self.function):
                    returned = await self.function()
                else:
                    if self._limiter is None:
                        # Its own token: never waits behind the app's sync routes for one
                        # of anyio's default 40 threads, and never takes one from them.
                        self._limiter = anyio.CapacityLimiter(1)
                    self._thread_since = time.monotonic()
                    returned = await anyio.to_thread.run_sync(
                        self._call_sync, abandon_on_cancel=True, limiter=self._limiter
                    )
                    if inspect.isawaitable(returned):
                        returned = await returned
            status, observations, output = _interpret(returned)
        except TimeoutError:
            status, output = "fail", f"timed out after {self.timeout:g} s"
            if not inspect.iscoroutinefunction(self.function):
                self.abandoned_threads += 1
        except Exception as exc:
            status, output = "fail", _reason(exc)
        return self._keep(status, observations, output, started)

    def _keep(self, status: Status, observations: tuple[Observation, ...], output: str | None,
              started: float) -> CheckResult:  # fmt: skip
        result = CheckResult(status, observations, output, time.time(), time.monotonic(),
                             perf_counter() - started)  # fmt: skip
        self.result = result
        return result

    def _call_sync(self) -> Any:
        try:
            return self.function()
        finally:
            self._thread_since = None  # back (on time or late): the next run may start


def _on_running_loop(task: asyncio.Task[Any]) -> bool:
    try:
        return task.get_loop() is asyncio.get_running_loop()
    except RuntimeError:  # no running loop: asked from another thread
        return True


def _interpret(returned: Any) -> tuple[Status, tuple[Observation, ...], str | None]:
    if returned is None or returned is True:
        return "pass", (), None
    if returned is False:
        return "fail", (), "the check returned False"
    if isinstance(returned, Observation):
        returned = (returned,)
    if isinstance(returned, list | tuple) and all(isinstance(o, Observation) for o in returned):
        observations = tuple(_sane(o) for o in returned)
        status = worst(o.status for o in observations)
        reasons = [o.output for o in observations if o.status != "pass" and o.output]
        return status, observations, "; ".join(reasons) or None
    raise TypeError(
        f"a health check returned {type(returned).__name__}: expected None, a bool, "
        "or Observation(s)"
    )


def _sane(observation: Observation) -> Observation:
    """The observation bounded to what health+json can carry safely.

    The value: a finite number within +-MAX_NUMBER, a string of at most MAX_OUTPUT
    characters, a boolean, or nothing. NaN, infinity or a larger number fails the
    observation (an integer of thousands of digits cannot even be written out: Python
    refuses to); any other type is shown as its text, cut to MAX_OUTPUT. The measurement,
    unit and output are cut to MAX_OUTPUT too, and must be strings.
    """
    value = observation.value
    fixed: dict[str, Any] = {}
    for what in ("measurement", "unit", "output"):
        text = getattr(observation, what)
        if text is None and what != "measurement":
            continue
        if not isinstance(text, str):
            text = _text(text)
        if len(text) > MAX_OUTPUT:
            text = text[: MAX_OUTPUT - 1] + "\u2026"
        if text is not getattr(observation, what):
            fixed[what] = text
    if value is None or isinstance(value, bool):
        pass
    elif isinstance(value, int | float):
        if not (isinstance(value, int) or math.isfinite(value)) or not (
            -MAX_NUMBER <= value <= MAX_NUMBER
        ):
            if isinstance(value, float) and not math.isfinite(value):
                output = f"observed value {value!r} is not a finite number"
            else:
                output = f"observed value out of range: more than {MAX_NUMBER:.0e} in magnitude"
            fixed.update(value=None, status="fail", output=output)
    else:
        text = value if isinstance(value, str) else _text(value)
        if len(text) > MAX_OUTPUT:
            text = text[: MAX_OUTPUT - 1] + "\u2026"
        if text is not value:
            fixed["value"] = text
    if observation.status not in _RANK:
        fixed.update(status="fail", output=f"unknown status {_text(observation.status)[:40]!r}")
    return replace(observation, **fixed) if fixed else observation


def _text(value: Any) -> str:
    """``str(value)``, or its type's name when even that fails."""
    try:
        return str(value)
    except Exception:
        return f"<{type(value).__name__}>"


_RANK: Final = {"pass": 0, "warn": 1, "fail": 2}


def worst(statuses: Any) -> Status:
    """The worst of some statuses (``pass`` when there are none)."""
    result: Status = "pass"
    for status in statuses:
        if _RANK[status] > _RANK[result]:
            result = status
    return result


# user:password@ in a URL a driver puts in its error: the password is masked before the
# reason reaches /healthz or the log.
_URL_PASSWORD: Final = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@")


def _reason(exc: BaseException) -> str:
    text = _text(exc).strip()
    text = _URL_PASSWORD.sub(r"\g<head>***@", text.splitlines()[0]) if text else ""
    reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return reason if len(reason) <= MAX_OUTPUT else reason[: MAX_OUTPUT - 1] + "\u2026"


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1000):03d}Z"


# -- built-in checks ------------------------------------------------------------------

Target = Any  # an object, or a zero-argument callable returning it (made in a lifespan)


def _require(module: str, extra: str, check: str) -> None:
    """Fail at construction, not at every run, when an optional dependency is missing."""
    try:
        importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"the {check} health check needs {module.split('.')[0]!r}: pip install 'poise[{extra}]'"
        ) from None


def _resolve(target: Target, what: str) -> Any:
    # A class instance that happens to be callable (a pool) is the object itself.
    obj = target() if callable(target) and inspect.isfunction(target) else target
    if obj is None:
        raise RuntimeError(f"no {what} yet (the app has not created it)")
    return obj


def postgres(
    target: Target,
    *,
    name: str = "postgres",
    critical: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    ttl: float = DEFAULT_TTL,
    background: bool = True,
) -> Check:
    """PostgreSQL through the app's own pool: ``SELECT 1`` and the pool's counters.

    Args:
        target: an SQLAlchemy ``AsyncEngine``, a sync SQLAlchemy ``Engine`` (SQLModel's
            ``create_engine``, as FastAPI's full-stack template uses), or an asyncpg
            ``Pool``; or a function returning one (for pools made in the lifespan, e.g.
            ``lambda: state.engine``).

    The query never waits for a pool slot: when every connection is in use it is
    skipped and the pool's own counters are reported (``warn``); readiness turns that
    into a failure once the pool stays saturated for ``ready_pool_window``. On a sync
    engine the query runs in a worker thread of the check's own (one at most: never one
    of the app's thread-pool tokens, and a run stuck in the driver is not piled on).
    """
    threads: list[anyio.CapacityLimiter] = []

    def pool_state() -> PoolState | None:
        try:
            return _pool_state(_resolve(target, "pool"))
        except Exception:
            return None

    async def check() -> list[Observation]:
        pool = _resolve(target, "PostgreSQL engine or pool")
        state = _pool_state(pool)
        observations = []
        if state is not None:
            observations.append(_connections(state))
            if state.in_use >= state.size > 0:
                observations.append(Observation(
                    "responseTime", None, "ms", "warn",
                    "SELECT 1 skipped: every pool connection is in use",
                ))  # fmt: skip
                return observations
        started = perf_counter()
        if _is_sync_engine(pool):
            if not threads:
                threads.append(anyio.CapacityLimiter(1))
            await anyio.to_thread.run_sync(
                _select_one_sync, pool, abandon_on_cancel=True, limiter=threads[0]
            )
        else:
            await _select_one(pool)
        elapsed = (perf_counter() - started) * 1e3
        observations.append(Observation("responseTime", round(elapsed, 3), "ms"))
        return observations

    return Check(name, check, critical=critical, timeout=timeout, ttl=ttl,
                 background=background, component_type="datastore", pool=pool_state)  # fmt: skip


def _connections(state: PoolState) -> Observation:
    waiting = "" if state.waiting is None else f", {state.waiting} waiting"
    if state.saturated:
        reason = f"pool saturated: {state.in_use}/{state.size} in use{waiting}"
        return Observation("connections", state.in_use, None, "warn", reason)
    return Observation("connections", state.in_use, None)


def _pool_state(pool: Any) -> PoolState | None:
    """The counters of an SQLAlchemy async engine's pool or an asyncpg pool."""
    sa_pool = getattr(pool, "pool", None)
    if sa_pool is not None and hasattr(sa_pool, "checkedout"):
        in_use = int(sa_pool.checkedout())
        size_of = getattr(sa_pool, "size", None)
        if not callable(size_of):
            return PoolState(in_use, 0, None)  # NullPool / StaticPool: nothing to saturate
        overflow = int(getattr(sa_pool, "_max_overflow", 0))
        size = int(size_of()) + max(overflow, 0) if overflow >= 0 else 0
        # SQLAlchemy keeps waiters in its asyncio queue; private, so read defensively.
        queue = getattr(getattr(sa_pool, "_pool", None), "__dict__", {}).get("_queue")
        return PoolState(in_use, size, _waiters(queue))
    if hasattr(pool, "get_max_size") and hasattr(pool, "get_idle_size"):
        size = int(pool.get_max_size())
        in_use = int(pool.get_size()) - int(pool.get_idle_size())
        return PoolState(in_use, size, _waiters(getattr(pool, "_queue", None)))
    return None


def _waiters(queue: Any) -> int | None:
    getters = getattr(queue, "_getters", None)
    if getters is None:
        return None
    return sum(1 for g in list(getters) if not g.done())


def _is_sync_engine(pool: Any) -> bool:
    """A sync SQLAlchemy ``Engine`` (an ``AsyncEngine`` has ``sync_engine``)."""
    return (
        hasattr(pool, "connect") and hasattr(pool, "dialect") and not hasattr(pool, "sync_engine")
    )


def _select_one_sync(engine: Any) -> None:
    from sqlalchemy import text

    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


async def _select_one(pool: Any) -> None:
    if hasattr(pool, "sync_engine") and hasattr(pool, "connect"):  # SQLAlchemy AsyncEngine
        from sqlalchemy import text

        async with pool.connect() as conn:
            await conn.execute(text("SELECT 1"))
    elif hasattr(pool, "fetchval"):  # asyncpg Pool
        await pool.fetchval("SELECT 1")
    else:
        raise TypeError(
            f"not an SQLAlchemy Engine or AsyncEngine, nor an asyncpg Pool: {type(pool).__name__}"
        )


def redis(
    target: Target | str,
    *,
    name: str = "redis",
    critical: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    ttl: float = DEFAULT_TTL,
    background: bool = True,
) -> Check:
    """Redis ``PING``.

    Args:
        target: a ``redis.asyncio.Redis`` or a sync ``redis.Redis`` client (its PING
            then runs in a worker thread), or a function returning one, or a
            ``redis://`` URL: poise then makes its own client (its socket timeouts are
            the check's timeout) and closes it when the app shuts down.
    """
    own: list[Any] = []
    if isinstance(target, str):
        _require("redis.asyncio", "redis", f"redis({target.split('@')[-1]!r})")

    def client() -> Any:
        if not isinstance(target, str):
            return _resolve(target, "Redis client")
        if not own:
            import redis.asyncio as aioredis

            own.append(aioredis.Redis.from_url(
                target, socket_connect_timeout=timeout, socket_timeout=timeout,
                retry_on_timeout=False,
            ))  # fmt: skip
        return own[0]

    threads: list[anyio.CapacityLimiter] = []

    async def check() -> Observation:
        started = perf_counter()
        redis_client = client()
        if hasattr(redis_client, "aclose"):  # redis.asyncio.Redis (a sync client has none)
            answered = await redis_client.ping()
        else:
            # A sync client (redis.Redis): its PING blocks, so it runs in a worker thread
            # of the check's own (one at most), never on the loop.
            if not threads:
                threads.append(anyio.CapacityLimiter(1))
            answered = await anyio.to_thread.run_sync(
                redis_client.ping, abandon_on_cancel=True, limiter=threads[0]
            )
        if not answered:
            raise RuntimeError("PING did not answer PONG")
        return Observation("responseTime", round((perf_counter() - started) * 1e3, 3), "ms")

    async def close() -> None:
        if own:
            await own.pop().aclose()

    return Check(name, check, critical=critical, timeout=timeout, ttl=ttl,
                 background=background, component_type="datastore", close=close)  # fmt: skip


def http(
    url: str,
    *,
    name: str | None = None,
    expect: int | Collection[int] = 200,
    critical: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    ttl: float = DEFAULT_TTL,
    background: bool = True,
    client: Any = None,
) -> Check:
    """An HTTP dependency: ``GET url`` must answer with an expected status.

    Args:
        url: what to get. It is shown in ``/healthz`` (admin detail) only by its host.
        name: the component name; the URL's host when omitted.
        expect: the status (or statuses) that mean healthy.
        client: an ``httpx.AsyncClient`` to use; poise makes its own (and closes it at
            shutdown) when omitted. Needs ``httpx`` installed.
    """
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname
    if not host:
        raise ValueError(f"http check: {url!r} is not an absolute http(s) URL")
    expected = frozenset([expect] if isinstance(expect, int) else expect)
    own: list[Any] = []
    if client is None:
        _require("httpx", "http", f"http({host!r})")

    def the_client() -> Any:
        if client is not None:
            return client
        if not own:
            import httpx

            own.append(httpx.AsyncClient(timeout=timeout, follow_redirects=False))
        return own[0]

    async def check() -> Observation:
        started = perf_counter()
        response = await the_client().get(url)
        elapsed = round((perf_counter() - started) * 1e3, 3)
        if response.status_code not in expected:
            wanted = ", ".join(str(s) for s in sorted(expected))
            return Observation("responseTime", elapsed, "ms", "fail",
                               f"answered {response.status_code}, expected {wanted}")  # fmt: skip
        return Observation("responseTime", elapsed, "ms")

    async def close() -> None:
        if own:
            await own.pop().aclose()

    return Check(name or host, check, critical=critical, timeout=timeout, ttl=ttl,
                 background=background, close=close)  # fmt: skip
