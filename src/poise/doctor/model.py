"""What ``poise doctor`` produces: findings, the routes it saw, and the probe's results.

``Report.to_dict`` is the ``--format json`` contract (../shared/DESIGN.md): other
tools read it, so fields are only ever added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from poise.doctor.rules import SEVERITY_RANK, Severity

__all__ = [
    "ChainLink",
    "Finding",
    "Incident",
    "ProbeResult",
    "ProbedRoute",
    "Report",
    "RouteInfo",
    "Severity",
]


@dataclass(frozen=True, slots=True)
class ChainLink:
    """One step of a call chain: a function of the project and the line it calls from.

    ``function`` is ``"pkg.module:qualname"``; ``line`` is where the function is
    defined for the first link and where the previous link calls into it for the rest.
    """

    function: str
    file: str
    line: int

    def to_dict(self) -> dict[str, Any]:
        return {"function": self.function, "file": self.file, "line": self.line}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem at one place, reached from one entry point.

    Attributes:
        rule: ``PSE1xx``.
        severity: after precision rules and configured overrides.
        message: one sentence naming the call and why it is a problem here.
        file: the offending call's file, relative to the project root (``/``-separated).
        line: its line (1-based); ``col``: its column (1-based).
        entry: ``"GET /orders/{id}"``, ``"middleware"``, ``"lifespan"``,
            ``"background"`` or ``"exception handler"``.
        route: ``entry`` when it is a route, else ``None``.
        chain: from the route handler (or dependency) to the call's function.
        fix: what to do about it.
        sink: the called API as the catalog names it (``requests.post``), if any.
        confirmed: the live probe measured a block at this line.
    """

    rule: str
    severity: Severity
    message: str
    file: str
    line: int
    col: int
    entry: str
    chain: tuple[ChainLink, ...]
    fix: str
    confirmed: bool = False
    sink: str | None = None

    @property
    def route(self) -> str | None:
        return self.entry if " /" in self.entry else None

    @property
    def sort_key(self) -> tuple[int, str, int, int, str, str]:
        return (-SEVERITY_RANK[self.severity], self.file, self.line, self.col, self.rule,
                self.entry)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "route": self.route,
            "entry": self.entry,
            "chain": [link.to_dict() for link in self.chain],
            "fix": self.fix,
            "confirmed": self.confirmed,
            "sink": self.sink,
        }


@dataclass(frozen=True, slots=True)
class RouteInfo:
    """A route the static analysis found: ``GET /orders/{id}`` and its handler."""

    method: str
    path: str
    handler: str
    file: str
    line: int
    is_async: bool
    dependencies: tuple[str, ...] = ()
    thread_jumps: int = 0

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "handler": self.handler,
            "file": self.file,
            "line": self.line,
            "async": self.is_async,
            "dependencies": list(self.dependencies),
            "thread_jumps": self.thread_jumps,
        }


@dataclass(frozen=True, slots=True)
class Incident:
    """A block the probe measured: how long, on which route, and where (project frame)."""

    duration_s: float
    route: str | None
    file: str | None
    line: int | None
    stack: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "duration_s": round(self.duration_s, 6),
            "route": self.route,
            "file": self.file,
            "line": self.line,
            "stack": list(self.stack),
        }


@dataclass(frozen=True, slots=True)
class ProbedRoute:
    """What the probe did with one GET route: sent a burst, or skipped it and why."""

    route: str
    sent: int
    statuses: dict[int, int]
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "sent": self.sent,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "skipped": self.skipped,
        }


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The live probe: routes burst (or skipped), and the blocks measured meanwhile."""

    threshold_s: float
    routes: tuple[ProbedRoute, ...]
    incidents: tuple[Incident, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold_s": self.threshold_s,
            "routes": [route.to_dict() for route in self.routes],
            "incidents": [incident.to_dict() for incident in self.incidents],
        }


@dataclass(slots=True)
class Report:
    """Everything one ``poise doctor`` run found."""

    poise_version: str
    target: str
    root: str
    findings: list[Finding]
    routes: list[RouteInfo]
    files: int = 0
    lines: int = 0
    probe: ProbeResult | None = None
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Findings per severity, every severity present (zero when none)."""
        counts = dict.fromkeys(("error", "warning", "info"), 0)
        for finding in self.findings:
            counts[finding.severity] += 1
        return counts

    def worst(self) -> int:
        """The rank of the worst severity found (0 when nothing was found)."""
        return max((SEVERITY_RANK[f.severity] for f in self.findings), default=0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "poise_version": self.poise_version,
            "target": self.target,
            "findings": [finding.to_dict() for finding in self.findings],
            "routes": [route.to_dict() for route in self.routes],
            "probe": None if self.probe is None else self.probe.to_dict(),
            "summary": self.counts() | {"files": self.files, "lines": self.lines},
            "notes": list(self.notes),
        }
