"""``Poise(app)``: build poise's middleware stack around an app and wire its parts.

This is the only module that reads :class:`~poise.settings.Settings` and knows every
component; the components themselves receive plain arguments.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Final, Literal

import anyio
import anyio.to_thread

from poise._internal import InternalErrors
from poise._version import __version__
from poise.admission.controller import Admission
from poise.admission.limiter import GradientLimiter
from poise.admission.policy import Policies, route_options
from poise.errors import AlreadyInstalledError, InstallError
from poise.health.endpoints import HealthEndpoints, HealthPaths
from poise.health.probe_port import ProbeServer
from poise.health.state import TICK, Health, HealthLimits
from poise.ledger import Ledger
from poise.loop.incidents import IncidentStore
from poise.loop.lag import LagMeter
from poise.loop.monitor import BEAT_INTERVAL, LoopMonitor
from poise.loop.threadpool import limiter_stats, orphaned_thread_work
from poise.middleware.core import PoiseMiddleware
from poise.middleware.cors import app_cors
from poise.middleware.lifespan import Lifespan
from poise.observe.admin_port import AdminPortServer
from poise.observe.api import AdminAPI, is_loopback
from poise.observe.stats import RequestStats
from poise.openapi import install_openapi_responses
from poise.routing import RouteTemplates
from poise.settings import Settings
from poise.types import ASGIApp, Receive, Scope, Send

__all__ = ["Phase", "Poise"]

# The attribute marking an app poise is installed on (double-install detection).
_MARK: Final = "__poise__"

Phase = Literal["created", "starting", "serving", "stopped"]

logger = logging.getLogger("poise")


class Poise:
    """Install poise on an ASGI app, in place.

    On a FastAPI or Starlette app, poise puts its layers outside the app's own
    middleware and error handling, and the app keeps being served as it is
    (``uvicorn main:app``). Any other ASGI callable cannot be changed in place: serve
    the ``Poise`` object instead (``app = Poise(app)``); it is an ASGI app too.

    Args:
        app: the application.
        settings: the configuration; ``Settings()`` when omitted. ``POISE_*``
            environment variables are applied on top of it either way.

    Raises:
        AlreadyInstalledError: poise is already installed on ``app``.
        InstallError: the Starlette app has already started serving (its middleware
            stack is built), so nothing can be added outside it any more.
        SettingsError: a ``POISE_*`` variable (or ``settings``) has a bad value.

    Example::

        from fastapi import FastAPI
        from poise import Poise

        app = FastAPI()
        Poise(app)
    """

    def __init__(self, app: ASGIApp, settings: Settings | None = None) -> None:
        if isinstance(app, Poise) or getattr(app, _MARK, None) is not None:
            raise AlreadyInstalledError(
                "poise is already installed on this app: call Poise(app) once"
            )
        self.app = app
        self.settings = Settings.from_env(base=settings)
        self.errors = InternalErrors()
        self.requests = RequestStats(recent=self.settings.recent_requests)
        self.phase: Phase = "created"
        self._created = time.monotonic()
        self._templates = RouteTemplates(app)
        self.incidents = IncidentStore(capacity=self.settings.incident_ring)
        settings = self.settings
        # One loop-lag meter for the monitor's stats, readiness and the limiter: fed by
        # the monitor's heartbeat, or by the health ticker when the monitor is off.
        self.lag = LagMeter(BEAT_INTERVAL if settings.loop_monitor else TICK)
        self.monitor: LoopMonitor | None = None
        if settings.loop_monitor:
            self.monitor = LoopMonitor(
                threshold=settings.block_threshold,
                route_of=self._templates.resolve,
                incidents=self.incidents,
                errors=self.errors,
                lag=self.lag,
                starved_after=settings.threadpool_starved_after,
            )
        self.admission = Admission(
            GradientLimiter(
                min_limit=settings.admission_min_limit,
                max_limit=settings.admission_max_limit,
                loop_lag=None if self.monitor is None else self._loop_lag,
            )
            if settings.admission
            else None,
            observe=settings.admission == "observe",
            max_wait=settings.admission_max_wait,
            max_queue=settings.admission_max_queue,
            hung_after=settings.hung_after,
            route_label=self._route_label,
            pool_starved=None if self.monitor is None else self.monitor.threadpool.starved_now,
        )
        self._policies = Policies(
            self._templates,
            rules=settings.admission_priorities,
            default_deadline=settings.deadline,
            deadline_header=settings.deadline_header,
            errors=self.errors,
        )
        self.health = Health(
            HealthLimits(
                live_loop_stuck=settings.live_loop_stuck,
                ready_max_lag=settings.ready_max_lag,
                ready_max_shed=settings.ready_max_shed,
                ready_pool_window=settings.ready_pool_window,
                ready_hold=settings.ready_hold,
                starting_warn_after=settings.starting_warn_after,
            ),
            started=self._serving,
            shedding=self._shedding if settings.admission is True else None,
            errors=self.errors,
            lag=self.lag,
            feeds_lag=self.monitor is None,
            on_tick=[self.admission.tick],
            unready=[] if self.monitor is None else [self.monitor.threadpool.reason],
        )
        self._health_paths = HealthPaths(
            live=self.settings.livez_path,
            ready=self.settings.readyz_path,
            startup=self.settings.startupz_path,
            health=self.settings.healthz_path,
        )
        self.probe_server: ProbeServer | None = None
        self._warned_backend = False
        self.admin_server: AdminPortServer | None = None
        self._admin = AdminAPI(
            token=self.settings.admin_token,
            stats=self.stats,
            requests=self._request_dicts,
            ring_size=self.requests.capacity,
        )

        if self.settings.openapi_responses:
            install_openapi_responses(app, self._openapi_operations)

        self._asgi: ASGIApp
        if _is_starlette(app):
            if getattr(app, "middleware_stack", None) is not None:
                raise InstallError(
                    "this app has already started serving; call Poise(app) right after "
                    "creating the app, before it handles a request"
                )
            build_app_stack = app.build_middleware_stack  # type: ignore[attr-defined]

            def build_middleware_stack() -> ASGIApp:
                return self._wrap(build_app_stack())

            # An instance attribute shadows the class's method, so Starlette (and
            # FastAPI) build their own stack exactly as before and hand it to us. The
            # app object stays the one the server imports.
            app.build_middleware_stack = build_middleware_stack  # type: ignore[attr-defined]
            state = getattr(app, "state", None)
            if state is not None:
                state.poise = self
            self._asgi = app
        else:
            self._asgi = self._wrap(app)
        # A bound method or a builtin cannot carry the mark: a second Poise() on it
        # cannot be detected, but it is not broken by the first.
        with contextlib.suppress(AttributeError, TypeError):
            setattr(app, _MARK, self)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._asgi(scope, receive, send)

    def _openapi_operations(self) -> dict[tuple[str, str], tuple[bool, bool]]:
        """``(path, method) -> (may be shed, has a deadline)`` per operation of the app."""
        settings = self.settings
        enforcing = settings.admission is True
        anyone_may_ask = settings.deadline_header is not None
        result: dict[tuple[str, str], tuple[bool, bool]] = {}
        for route in getattr(self.app, "routes", None) or ():
            path = getattr(route, "path_format", None) or getattr(route, "path", None)
            methods = getattr(route, "methods", None)
            if not isinstance(path, str) or not methods:
                continue
            options = route_options(getattr(route, "endpoint", None))
            long_lived = options is not None and options.long_lived
            deadline = options.deadline if options is not None else None
            has_deadline = anyone_may_ask or (deadline or settings.deadline) is not None
            for method in methods:
                result[(path, method.lower())] = (enforcing and not long_lived, has_deadline)
        return result

    def _endpoints(self) -> dict[str, ASGIApp]:
        """poise's own endpoints on the app's port: the probes, /healthz, the admin API.

        An app route at one of these paths wins: poise must not change what the app
        answers. A health endpoint then moves under ``admin_prefix`` (``/healthz`` ->
        ``/_poise/healthz``); an admin one stays on the admin port only. Said once, at
        start-up, naming both.
        """
        health = HealthEndpoints(self.health, self._health_paths, self._admin.allowed)
        prefix = self.settings.admin_prefix
        admin = self._admin.endpoints(prefix)
        taken = _app_route_paths(self.app)
        endpoints: dict[str, ASGIApp] = {}
        for path, handler in health.endpoints().items():
            if path in taken:
                moved = prefix + path
                logger.warning("poise: the app has its own route at %s; poise serves its "
                               "%s endpoint at %s instead", path, path, moved)  # fmt: skip
                path = moved
            endpoints[path] = handler
        for path, handler in admin.items():
            if path in taken:
                logger.warning("poise: the app has its own route at %s; poise's admin "
                               "endpoint there is served on the admin port only", path)  # fmt: skip
                continue
            endpoints[path] = handler
        return endpoints

    def _admin_port_endpoints(self) -> dict[str, ASGIApp]:
        """What the admin port serves: the admin API and /healthz (in full there)."""
        endpoints = self._admin.endpoints(self.settings.admin_prefix)
        healthz = self._health_paths.health
        if healthz is not None:
            health = HealthEndpoints(self.health, self._health_paths, self._admin.allowed)
            endpoints[healthz] = health.endpoints()[healthz]
        return endpoints

    def _wrap(self, inner: ASGIApp) -> ASGIApp:
        return PoiseMiddleware(
            inner,
            templates=self._templates,
            sinks=[self.requests.record],
            errors=self.errors,
            endpoints=self._endpoints(),
            lifespan=Lifespan(
                startup=self._startup,
                started=self._started,
                stopping=self._stopping,
                shutdown=self._shutdown,
                # A Starlette app's router always speaks lifespan: an exception before
                # its start-up is an error, to propagate as without poise.
                own_if_unsupported=not _is_starlette(self.app),
            ),
            monitor=self.monitor,
            server_timing=self.settings.server_timing,
            admission=self.admission,
            policies=self._policies,
            drain=self.health,
            debug_headers=self.settings.debug_headers,
            # Read when the stack is built (the app's first lifespan or request): the
            # app's middleware is all added by then.
            cors=app_cors(self.app, self.settings.cors_origins),
        )

    # -- lifespan ---------------------------------------------------------------------

    async def _startup(self) -> None:
        self.phase = "starting"
        on_asyncio = _on_asyncio()
        if not on_asyncio:
            self._without_asyncio()
        elif self.monitor is not None:
            # Before the app's own start-up, so blocks there are caught too.
            self.monitor.start()
        self.health.start(passive=not on_asyncio)
        port = self.settings.probe_port
        if port is not None and self.probe_server is None:
            server = ProbeServer(self.health, self._health_paths, self.settings.probe_host, port)
            if server.start():
                self.probe_server = server
        admin_port = self.settings.admin_port
        if admin_port is not None and self.admin_server is None and on_asyncio:
            admin = AdminPortServer(
                self._admin_port_endpoints(), self.settings.admin_host, admin_port
            )
            if admin.start(asyncio.get_running_loop()):
                self.admin_server = admin
                host = self.settings.admin_host
                if host != "localhost" and not is_loopback(host):
                    logger.warning("poise: the admin port listens on %s, not a loopback "
                                   "address; it still answers clients on this host only",
                                   host)  # fmt: skip

    def _without_asyncio(self) -> None:
        """Another event loop (trio, through anyio): what needs asyncio is off, said once.

        The loop monitor (asyncio's task factory and handles), health check runs and the
        ticker, and the admin port are asyncio-only. The ledger, statistics, admission
        (its limit learned from latency alone, its queue on anyio's events), deadlines
        (anyio cancel scopes), probes and the admin API work.
        """
        if not self._warned_backend:
            self._warned_backend = True
            logger.warning("poise: not an asyncio event loop: the loop monitor, health check "
                           "runs and the admin port are off (asyncio only); the ledger, "
                           "statistics, admission (from latency alone), deadlines and "
                           "probes work")  # fmt: skip

    async def _started(self) -> None:
        self.phase = "serving"
        self.health.kick()

    async def _stopping(self) -> None:
        # The server asked the app to shut down: whatever ran before (poise run's drain,
        # or none under a plain server), from now on the process is not ready, and no
        # check may start on a pool or client the app's shutdown is about to close.
        self.health.begin_drain()
        await self.health.halt()

    async def _shutdown(self) -> None:
        self.phase = "stopped"
        self.health.begin_drain()
        server, self.probe_server = self.probe_server, None
        if server is not None:
            # First: a probe arriving now must not start check runs on closing clients.
            await anyio.to_thread.run_sync(server.stop)
        admin, self.admin_server = self.admin_server, None
        if admin is not None:
            await anyio.to_thread.run_sync(admin.stop)
        await self.health.stop()
        if self.monitor is not None:
            await self.monitor.stop()

    def _serving(self) -> bool:
        return self.phase == "serving"

    def _shedding(self) -> tuple[int, int]:
        return self.admission.shed_total, self.admission.finished_total

    # -- reading --------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """The ``/_poise/api/stats`` document.

        Sections of components that are not part of this poise yet (or are switched
        off) are ``null``, so a reader can tell "not measured" from "nothing happened".
        """
        monitor = self.monitor if self.monitor is not None and self.monitor.running else None
        return {
            "poise_version": __version__,
            "uptime_s": round(time.monotonic() - self._created, 3),
            "phase": self.phase,
            "loop": None if monitor is None else monitor.stats(),
            "threadpool": None if monitor is None else self._threadpool_stats(monitor),
            "admission": self._admission_stats(),
            "pools": None,
            "incidents": (
                None if monitor is None else [i.to_dict() for i in self.incidents.recent()]
            ),
            "routes": self.requests.routes(),
            "health": self._health_stats(),
            "internal_errors": self.errors.snapshot(),
        }

    def _loop_lag(self, since: float) -> float:
        monitor = self.monitor
        return 0.0 if monitor is None or not monitor.running else self.lag.worst_since(since)

    def _route_label(self, ledger: Ledger) -> str:
        monitor = self.monitor
        if monitor is not None and monitor.running:
            return monitor.route_label(ledger)
        return f"{ledger.method} {ledger.route or '<in flight>'}"

    @staticmethod
    def _threadpool_stats(monitor: LoopMonitor) -> dict[str, Any] | None:
        stats: dict[str, Any] | None = limiter_stats()
        if stats is None:
            return None
        watch = monitor.threadpool
        current = watch.current
        stats["starved"] = current is not None and current.ongoing
        stats["deadlock"] = watch.deadlocked
        stats["starved_total"] = watch.total
        stats["starved_after_s"] = watch.threshold
        return stats

    def _admission_stats(self) -> dict[str, Any]:
        stats = self.admission.stats()
        stats["deadline_header_ignored_total"] = self._policies.header_ignored
        stats["orphaned_thread_work_total"] = orphaned_thread_work()
        return stats

    def _health_stats(self) -> dict[str, Any]:
        health = self.health
        return {
            "state": health.state,
            "reasons": list(health.reasons),
            "probe_port": None if self.probe_server is None else self.probe_server.port,
            "admin_port": None if self.admin_server is None else self.admin_server.port,
            "checks": {
                name: {
                    "critical": check.critical,
                    "runs": check.runs,
                    "abandoned_threads": check.abandoned_threads,
                    **({} if check.result is None else check.result.to_dict()),
                }
                for name, check in health.checks.items()
            },
        }

    def _request_dicts(self, slowest: int | None, limit: int) -> list[dict[str, Any]]:
        if slowest is not None:
            ledgers = self.requests.slowest(slowest)
        else:
            ledgers = self.requests.recent(limit)
        return [ledger.to_dict() for ledger in ledgers]


def _on_asyncio() -> bool:
    """Whether the running event loop is asyncio's (not trio's, through anyio)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _app_route_paths(app: Any) -> frozenset[str]:
    """The exact paths of a Starlette/FastAPI app's own routes (no parameters, no mounts:
    a catch-all or a static mount at ``/`` does not make ``/healthz`` the app's)."""
    paths = set()
    try:
        routes = list(getattr(app, "routes", None) or ())
    except Exception:  # a route tree poise cannot read: no collision to avoid, as far as known
        return frozenset()
    for route in routes:
        path = getattr(route, "path", None)
        if isinstance(path, str) and "{" not in path and hasattr(route, "endpoint"):
            paths.add(path)
    return frozenset(paths)


def _is_starlette(app: Any) -> bool:
    return callable(getattr(app, "build_middleware_stack", None)) and hasattr(
        app, "middleware_stack"
    )
