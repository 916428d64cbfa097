"""The health endpoints and their ``application/health+json`` bodies.

The bodies follow the IETF draft "Health Check Response Format for HTTP APIs":
``status`` is ``pass``, ``warn`` or ``fail`` (``fail`` answers 503, the others 200),
and ``/healthz`` lists ``checks`` keyed ``component:measurement``. The probe bodies say
the status and the readiness state, nothing more; the reasons, check outputs and
measurements are internals, shown by ``/healthz`` to admin clients only (loopback or
the admin token, as the admin API).

The body functions are plain and thread-safe (they read attributes), so the probe port
serves exactly what the main port serves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from poise.health.checks import Status, worst
from poise.health.state import Health
from poise.responses import send_json, send_problem
from poise.types import ASGIApp, Receive, Scope, Send

__all__ = ["CONTENT_TYPE", "HealthEndpoints", "HealthPaths", "body"]

CONTENT_TYPE: Final = b"application/health+json"
_READ_METHODS: Final = frozenset({"GET", "HEAD"})

Kind = str  # "live", "ready", "startup", "health"


@dataclass(frozen=True, slots=True)
class HealthPaths:
    """Where each endpoint is served; ``None`` switches one off."""

    live: str | None = "/livez"
    ready: str | None = "/readyz"
    startup: str | None = "/startupz"
    health: str | None = "/healthz"


def body(health: Health, kind: Kind, *, detailed: bool = False,
         from_thread: bool = False) -> tuple[int, dict[str, Any]]:  # fmt: skip
    """``(HTTP status, health+json document)`` of one endpoint, as of now."""
    now = time.monotonic()
    if kind == "live":
        ok = health.live(now)
        doc: dict[str, Any] = {"status": "pass" if ok else "fail"}
        if not ok:
            doc["notes"] = ["event loop stuck"]
        return (200 if ok else 503), doc
    if kind == "ready":
        ok = health.ready(now, from_thread=from_thread)
        state = health.state if ok or health.state != "ready" else "stalled"
        return (200 if ok else 503), {"status": "pass" if ok else "fail", "notes": [state]}
    if kind == "startup":
        ok = health.started_up()
        return (200 if ok else 503), {"status": "pass" if ok else "fail"}
    return _healthz(health, now, detailed)


def _healthz(health: Health, now: float, detailed: bool) -> tuple[int, dict[str, Any]]:
    checks: dict[str, list[dict[str, Any]]] = {}
    statuses: list[Status] = []
    for check in health.checks.values():
        result = check.result
        if result is None:
            entry = {"componentType": check.component_type, "status": "warn",
                     "output": "not run yet"}  # fmt: skip
            checks.setdefault(check.name, []).append(entry)
            statuses.append("warn")
            continue
        status: Status = result.status
        if not check.critical and status == "fail":
            status = "warn"  # a non-critical failure degrades, it does not fail
        statuses.append(status)
        common = {"componentType": check.component_type, "time": result.to_dict()["time"]}
        if not result.observations:
            entry = {**common, "status": result.status}
            if result.output:
                entry["output"] = result.output
            checks.setdefault(check.name, []).append(entry)
        for obs in result.observations:
            entry = {**common, "observedValue": obs.value, "status": obs.status}
            if obs.unit is not None:
                entry["observedUnit"] = obs.unit
            if obs.output:
                entry["output"] = obs.output
            checks.setdefault(f"{check.name}:{obs.measurement}", []).append(entry)
        if check.pool is not None and health.pool_saturated.get(check.name):
            statuses.append("warn")
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    checks["eventloop:lag"] = [{
        "componentType": "system", "observedValue": round(health.lag_p99 * 1e3, 3),
        "observedUnit": "ms", "status": "warn" if health._lag_high else "pass", "time": iso,
    }]  # fmt: skip
    checks["admission:shed"] = [{
        "componentType": "system", "observedValue": round(health.shed_fraction * 100, 2),
        "observedUnit": "%", "status": "warn" if health._shed_high else "pass", "time": iso,
    }]  # fmt: skip
    ready = health.ready(now)
    overall: Status = "fail" if not ready or not health.live(now) else worst(statuses)
    code = 503 if overall == "fail" else 200
    if not detailed:
        return code, {"status": overall}
    doc: dict[str, Any] = {
        "status": overall,
        "description": "poise health",
        "notes": [health.state],
        "checks": checks,
    }
    if health.reasons:
        doc["output"] = "; ".join(health.reasons)
    return code, doc


class HealthEndpoints:
    """The main-port endpoints as raw ASGI handlers.

    Args:
        health: the state they read.
        paths: where they are served.
        admin: whether a request may see ``/healthz`` in full (the admin API's rule).
    """

    def __init__(self, health: Health, paths: HealthPaths,
                 admin: Callable[[Scope], bool]) -> None:  # fmt: skip
        self._health = health
        self._paths = paths
        self._admin = admin

    def endpoints(self) -> dict[str, ASGIApp]:
        table: dict[str, ASGIApp] = {}
        for kind in ("live", "ready", "startup", "health"):
            path = getattr(self._paths, kind)
            if path is not None:
                table[path] = self._handler(kind)
        return table

    def _handler(self, kind: Kind) -> ASGIApp:
        health = self._health

        async def handle(scope: Scope, receive: Receive, send: Send) -> None:
            method = scope.get("method")
            if method not in _READ_METHODS:
                await send_problem(send, 405, detail="health endpoints answer GET and HEAD",
                                   headers=[(b"allow", b"GET, HEAD")])  # fmt: skip
                return
            if kind in ("ready", "startup", "health"):
                await health.refresh_on_demand()
            detailed = kind == "health" and self._admin(scope)
            code, doc = body(health, kind, detailed=detailed)
            await send_json(send, code, doc, content_type=CONTENT_TYPE, head=method == "HEAD")

        return handle
