"""Per-route admission options, path-pattern priorities, and deadlines from headers."""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from poise._internal import InternalErrors
from poise.errors import SettingsError
from poise.routing import RouteTemplates
from poise.types import Scope

__all__ = [
    "CRITICAL", "DEFAULT", "PRIORITY", "SHEDDABLE", "Policies", "RouteOptions", "route",
    "route_options",
]  # fmt: skip

CRITICAL: Final = 0
DEFAULT: Final = 1
SHEDDABLE: Final = 2
PRIORITY: Final = {"critical": CRITICAL, "default": DEFAULT, "sheddable": SHEDDABLE}

# A deadline header's value: plain decimal seconds ("0.8", "2"), surrounding spaces
# allowed. Not float()'s whole grammar, which also takes "1_0", "inf" and "1e9".
_SECONDS_RE: Final = re.compile(rb"^[ \t]*[0-9]{1,9}(\.[0-9]{1,9})?[ \t]*$")

# The attribute @poise.route sets on an endpoint.
_ATTRIBUTE: Final = "__poise_route__"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class RouteOptions:
    """What ``@poise.route(...)`` says about one endpoint."""

    priority: int | None = None
    deadline: float | None = None
    long_lived: bool = False


def route_options(endpoint: object) -> RouteOptions | None:
    """The options ``@poise.route`` gave ``endpoint``, or ``None``."""
    options = getattr(endpoint, _ATTRIBUTE, None)
    return options if isinstance(options, RouteOptions) else None


def route(
    *, priority: str | None = None, deadline: float | None = None, long_lived: bool = False
) -> Callable[[F], F]:
    """Admission options for one route: put it under the route decorator.

    Args:
        priority: ``"critical"`` (admitted as long as anything is), ``"default"``, or
            ``"sheddable"`` (shed first).
        deadline: seconds the request may take; past it the handler is cancelled and
            504 sent. Overrides the ``deadline`` setting.
        long_lived: the route holds its requests open by nature (long-polls,
            Server-Sent Events, streams that start late): they bypass the concurrency
            limit (never queued or shed by it, not counted in it), do not feed its
            latency samples, and are never reported hung.

    Raises:
        SettingsError: a value outside the accepted ones.

    Example::

        @app.post("/checkout")
        @poise.route(priority="critical", deadline=2.0)
        async def checkout() -> dict[str, str]: ...
    """
    if priority is not None and priority not in PRIORITY:
        raise SettingsError(
            f"poise.route(priority={priority!r}): expected one of critical, default, sheddable"
        )
    if deadline is not None and not (
        isinstance(deadline, int | float)
        and not isinstance(deadline, bool)
        and math.isfinite(deadline)
        and deadline > 0
    ):
        raise SettingsError(f"poise.route(deadline={deadline!r}): expected seconds > 0")
    if not isinstance(long_lived, bool):
        raise SettingsError(f"poise.route(long_lived={long_lived!r}): expected True or False")
    options = RouteOptions(
        None if priority is None else PRIORITY[priority],
        None if deadline is None else float(deadline),
        long_lived,
    )

    def mark(endpoint: F) -> F:
        setattr(endpoint, _ATTRIBUTE, options)
        return endpoint

    return mark


class Policies:
    """Priority and deadline of a request, decided before the app routes it.

    Route options (``@poise.route``) are read from the route tree at the first
    request; when no route has any and no pattern is configured, every request gets
    the defaults without a lookup.
    """

    def __init__(
        self,
        templates: RouteTemplates,
        *,
        rules: Sequence[tuple[str, str]],
        default_deadline: float | None,
        deadline_header: str | None,
        errors: InternalErrors | None = None,
    ) -> None:
        self._templates = templates
        self._errors = errors
        self._rules = [(re.compile(fnmatch.translate(glob)), PRIORITY[p]) for glob, p in rules]
        self.default_deadline = default_deadline
        # ASGI servers give header names lower-cased.
        self.header = None if deadline_header is None else deadline_header.lower().encode("latin-1")
        self._routes: list[tuple[re.Pattern[str], frozenset[str] | None, RouteOptions]] = []
        self._built = False
        # True once the route tree is read and nothing needs a lookup: the middleware
        # then skips .of() entirely (it runs on every request).
        self.trivial = False
        self.header_ignored = 0

    def _build(self) -> None:
        self._built = True
        try:
            endpoints = self._templates.endpoints()
        except Exception as exc:  # an app whose route tree cannot be read: defaults
            if self._errors is not None:
                self._errors.report("admission route options", exc)
            endpoints = []
        for pattern, methods, endpoint in endpoints:
            options = getattr(endpoint, _ATTRIBUTE, None)
            if isinstance(options, RouteOptions):
                self._routes.append((pattern, methods, options))
        self.trivial = not self._rules and not self._routes

    def of(self, scope: Scope, path: str) -> tuple[int, float | None, bool]:
        """``(priority, deadline seconds or None, long-lived)`` for a request to ``path``."""
        if not self._built:
            self._build()
        priority = DEFAULT
        deadline = self.default_deadline
        if self.trivial:
            return priority, deadline, False
        from_route = False
        long_lived = False
        method = scope["method"]
        for pattern, methods, options in self._routes:
            if (methods is None or method in methods) and pattern.match(path):
                if options.priority is not None:
                    priority = options.priority
                    from_route = True
                if options.deadline is not None:
                    deadline = options.deadline
                long_lived = options.long_lived
                break
        if not from_route:
            for pattern, rule_priority in self._rules:
                if pattern.match(path):
                    priority = rule_priority
                    break
        return priority, deadline, long_lived

    def header_deadline(self, scope: Scope, route_deadline: float | None) -> float | None:
        """The deadline with the caller's header applied (capped by the route's)."""
        wanted = self.header
        for name, value in scope["headers"]:
            if name == wanted:
                seconds = float(value) if _SECONDS_RE.match(value) else math.nan
                if not math.isfinite(seconds) or seconds < 0:
                    self.header_ignored += 1
                    return route_deadline
                return seconds if route_deadline is None else min(seconds, route_deadline)
        return route_deadline
