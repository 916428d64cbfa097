"""``Poise(app)``: build poise's middleware stack around an app and wire its parts.

This is the only module that reads :class:`~poise.settings.Settings` and knows every
component; the components themselves receive plain arguments.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Final, Literal

import anyio
import anyio.to_thread

from poise._internal import InternalErrors
from poise._version import __version__
from poise.admission.controller import Admission
from poise.admission.limiter import GradientLimiter
from poise.admission.policy import Policies
from poise.errors import AlreadyInstalledError, InstallError
from poise.health.endpoints import HealthEndpoints, HealthPaths
from poise.health.probe_port import ProbeServer
from poise.health.state import Health, HealthLimits
from poise.loop.incidents import IncidentStore
from poise.loop.monitor import LoopMonitor
from poise.loop.threadpool import limiter_stats, orphaned_thread_work
from poise.middleware.core import PoiseMiddleware
from poise.middleware.lifespan import Lifespan
from poise.observe.api import AdminAPI
from poise.observe.stats import RequestStats
from poise.routing import RouteTemplates
from poise.settings import Settings
from poise.types import ASGIApp, Receive, Scope, Send

__all__ = ["Phase", "Poise"]

# The attribute marking an app poise is installed on (double-install detection).
_MARK: Final = "__poise__"

Phase = Literal["created", "starting", "serving", "stopped"]


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
        self.monitor: LoopMonitor | None = None
        if self.settings.loop_monitor:
            self.monitor = LoopMonitor(
                threshold=self.settings.block_threshold,
                route_of=self._templates.resolve,
                incidents=self.incidents,
                errors=self.errors,
            )
        self.admission = Admission(
            GradientLimiter(
                min_limit=self.settings.admission_min_limit,
                max_limit=self.settings.admission_max_limit,
                loop_lag=None if self.monitor is None else self._loop_lag,
            )
            if self.settings.admission
            else None
        )
        self._policies = Policies(
            self._templates,
            rules=self.settings.admission_priorities,
            default_deadline=self.settings.deadline,
            deadline_header=self.settings.deadline_header,
            errors=self.errors,
        )
        self.health = Health(
            HealthLimits(
                live_loop_stuck=self.settings.live_loop_stuck,
                ready_max_lag=self.settings.ready_max_lag,
                ready_max_shed=self.settings.ready_max_shed,
                ready_pool_window=self.settings.ready_pool_window,
                ready_hold=self.settings.ready_hold,
            ),
            started=self._serving,
            shedding=self._shedding if self.settings.admission else None,
            errors=self.errors,
        )
        self._health_paths = HealthPaths(
            live=self.settings.livez_path,
            ready=self.settings.readyz_path,
            startup=self.settings.startupz_path,
            health=self.settings.healthz_path,
        )
        self.probe_server: ProbeServer | None = None
        self._admin = AdminAPI(
            token=self.settings.admin_token,
            stats=self.stats,
            requests=self._request_dicts,
            ring_size=self.requests.capacity,
        )

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

    def _wrap(self, inner: ASGIApp) -> ASGIApp:
        return PoiseMiddleware(
            inner,
            templates=self._templates,
            sinks=[self.requests.record],
            errors=self.errors,
            endpoints={
                **HealthEndpoints(self.health, self._health_paths, self._admin.allowed).endpoints(),
                **self._admin.endpoints(self.settings.admin_prefix),
            },
            lifespan=Lifespan(
                startup=self._startup,
                started=self._started,
                stopping=self._stopping,
                shutdown=self._shutdown,
            ),
            monitor=self.monitor,
            server_timing=self.settings.server_timing,
            admission=self.admission,
            policies=self._policies,
            drain=self.health,
        )

    # -- lifespan ---------------------------------------------------------------------

    async def _startup(self) -> None:
        self.phase = "starting"
        if self.monitor is not None:
            # Before the app's own start-up, so blocks there are caught too.
            self.monitor.start()
        self.health.start()
        port = self.settings.probe_port
        if port is not None and self.probe_server is None:
            server = ProbeServer(self.health, self._health_paths, self.settings.probe_host, port)
            if server.start():
                self.probe_server = server

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
            "threadpool": None if monitor is None else limiter_stats(),
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
        return 0.0 if monitor is None or not monitor.running else monitor.recent_lag(since)

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


def _is_starlette(app: Any) -> bool:
    return callable(getattr(app, "build_middleware_stack", None)) and hasattr(
        app, "middleware_stack"
    )
