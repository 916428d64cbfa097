"""One frozen, typed configuration object, with ``POISE_*`` environment overrides.

Every field is keyword-only, has a documented default (a module constant) and a
validator; a bad value fails at construction with the field, the value and the form
that is accepted. The environment wins over code, so an operator can retune a deployed
app without a rebuild: ``POISE_BLOCK_THRESHOLD=100ms uvicorn main:app``.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import logging
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from poise.errors import SettingsError

__all__ = [
    "DEFAULT_ADMIN_PREFIX",
    "DEFAULT_BLOCK_THRESHOLD",
    "DEFAULT_INCIDENT_RING",
    "DEFAULT_RECENT_REQUESTS",
    "ENV_PREFIX",
    "PRIORITIES",
    "Settings",
]

logger = logging.getLogger("poise")

ENV_PREFIX: Final = "POISE_"

DEFAULT_BLOCK_THRESHOLD: Final = 0.050
DEFAULT_ADMIN_PREFIX: Final = "/_poise"
DEFAULT_RECENT_REQUESTS: Final = 1000
DEFAULT_INCIDENT_RING: Final = 100

# POISE_* names that belong to poise's own tooling rather than to Settings; they are
# not typos and must not be warned about.
_NON_SETTING_ENV: Final = frozenset(
    {"POISE_REQUIRE_SERVICES", "POISE_RUN_TARGET", "POISE_RUN_FACTORY"}
)


@dataclass(frozen=True, slots=True)
class _Kind:
    """How one field's value is parsed from text and checked."""

    accepted: str
    parse: Callable[[str], Any]
    check: Callable[[Any], bool]


_DURATION_RE: Final = re.compile(
    r"^\s*([0-9]{0,15}\.?[0-9]{1,15}(?:[eE][-+]?[0-9]{1,3})?)\s*(us|ms|s|m)?\s*$", re.ASCII
)
_DURATION_UNITS: Final = {None: 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "m": 60.0}


def _parse_duration(text: str) -> float:
    match = _DURATION_RE.match(text)
    if match is None:
        raise ValueError(text)
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def _duration(low: float, high: float) -> _Kind:
    return _Kind(
        accepted=(
            f"a duration between {low:g} s and {high:g} s: seconds (0.05) "
            "or a number with a unit (50ms, 2s)"
        ),
        parse=_parse_duration,
        check=lambda v: (
            isinstance(v, int | float)
            and not isinstance(v, bool)
            and math.isfinite(v)
            and low <= v <= high
        ),
    )


# Numbers are read in ASCII only: int() and float() also take other scripts' digits
# ("١٢" is 12 to them), which no operator means to type; and their length is bounded
# (a 5,000-digit number is refused with the accepted form, not Python's own limit text).
_INT_RE: Final = re.compile(r"^[+-]?[0-9]{1,15}$", re.ASCII)
_FLOAT_RE: Final = re.compile(r"^[+-]?(?:[0-9]{1,15}(?:\.[0-9]{0,15})?|\.[0-9]{1,15})$", re.ASCII)


def _parse_int(text: str) -> int:
    word = text.strip()
    if _INT_RE.match(word) is None:
        raise ValueError(text)
    return int(word, 10)


def _parse_float(text: str) -> float:
    word = text.strip()
    if _FLOAT_RE.match(word) is None:  # no nan, inf, exponents or other digits
        raise ValueError(text)
    return float(word)


def _integer(low: int, high: int) -> _Kind:
    return _Kind(
        accepted=f"a whole number from {low} to {high}",
        parse=_parse_int,
        check=lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high,
    )


_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


def _parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(text)


_BOOLEAN: Final = _Kind(
    accepted="a boolean: 1, true, yes, on or 0, false, no, off",
    parse=_parse_bool,
    check=lambda v: isinstance(v, bool),
)


def _parse_admission(text: str) -> bool | str:
    if text.strip().lower() == "observe":
        return "observe"
    return _parse_bool(text)


_ADMISSION: Final = _Kind(
    accepted="a boolean (1, true, yes, on or 0, false, no, off) or observe",
    parse=_parse_admission,
    check=lambda v: isinstance(v, bool) or v == "observe",
)

_URL_PATH_RE: Final = re.compile(r"^(/[A-Za-z0-9._~-]+)+$")
_URL_PATH: Final = _Kind(
    accepted="a URL path such as /_poise: starts with '/', no trailing '/', no spaces",
    parse=str.strip,
    check=lambda v: isinstance(v, str) and _URL_PATH_RE.match(v) is not None,
)

_TOKEN_RE: Final = re.compile(r"^[\x21-\x7e]{16,512}$")
_TOKEN: Final = _Kind(
    accepted="unset, or 16 to 512 printable ASCII characters without spaces",
    # An empty variable means "no token", so POISE_ADMIN_TOKEN= can switch it off.
    parse=lambda text: text.strip() or None,
    check=lambda v: v is None or (isinstance(v, str) and _TOKEN_RE.match(v) is not None),
)


def _optional_duration(low: float, high: float) -> _Kind:
    inner = _duration(low, high)
    return _Kind(
        accepted=f"unset (off), or {inner.accepted}",
        # An empty variable (or "off") means "no value", so it can switch a default off.
        parse=lambda text: (
            None if text.strip().lower() in ("", "off", "none") else _parse_duration(text)
        ),
        check=lambda v: v is None or inner.check(v),
    )


_HEADER_RE: Final = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
_HEADER_NAME: Final = _Kind(
    accepted="unset (off), or an HTTP header name such as X-Request-Deadline",
    parse=lambda text: text.strip().lower() or None,
    check=lambda v: v is None or (isinstance(v, str) and _HEADER_RE.match(v) is not None),
)


def _optional_path() -> _Kind:
    return _Kind(
        accepted=f"unset (off), or {_URL_PATH.accepted}",
        parse=lambda text: None if text.strip().lower() in ("", "off", "none") else text.strip(),
        check=lambda v: v is None or _URL_PATH.check(v),
    )


_PORT: Final = _Kind(
    accepted="unset (off), or a TCP port from 0 to 65535 (0: any free port)",
    parse=lambda text: None if text.strip().lower() in ("", "off", "none") else _parse_int(text),
    check=lambda v: (
        v is None or (isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 65535)
    ),
)


def _listen_address(value: Any) -> bool:
    """An IP address literal (v4 or v6) or ``localhost``: what a listener binds to.

    Host names are refused: one that does not resolve (``nan``) made the port silently
    not open; one that does names whatever DNS says at start-up.
    """
    if not isinstance(value, str) or not value.isascii():
        return False
    if value == "localhost":
        return True
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


_HOST: Final = _Kind(
    accepted="an IP address to listen on, such as 0.0.0.0, ::, 127.0.0.1 or ::1 (or localhost)",
    parse=str.strip,
    check=_listen_address,
)

_FRACTION: Final = _Kind(
    accepted="a fraction above 0 and at most 1, such as 0.5",
    parse=_parse_float,
    check=lambda v: (
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and 0 < v <= 1
    ),
)


_ORIGIN_RE: Final = re.compile(r"^(\*|https?://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?)$", re.ASCII)


def _parse_origins(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


_ORIGINS: Final = _Kind(
    accepted="comma-separated origins such as https://app.example (scheme, host, optional "
    "port; no path), or *",
    parse=_parse_origins,
    check=lambda v: (
        isinstance(v, tuple)
        and all(isinstance(o, str) and _ORIGIN_RE.match(o) is not None for o in v)
    ),
)

PRIORITIES: Final = ("critical", "default", "sheddable")
_PRIORITY_RULE_RE: Final = re.compile(r"^(/[^\s=,]*)=(critical|default|sheddable)$")


def _parse_priority_rules(text: str) -> tuple[tuple[str, str], ...]:
    rules = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        match = _PRIORITY_RULE_RE.match(part)
        if match is None:
            raise ValueError(part)
        rules.append((match[1], match[2]))
    return tuple(rules)


_PRIORITY_RULES: Final = _Kind(
    accepted=(
        "comma-separated PATH_GLOB=PRIORITY rules, PRIORITY one of critical, default, "
        "sheddable, e.g. /admin/*=critical,/reports/*=sheddable"
    ),
    parse=_parse_priority_rules,
    check=lambda v: (
        isinstance(v, tuple)
        and all(
            isinstance(r, tuple)
            and len(r) == 2
            and isinstance(r[0], str)
            and r[0].startswith("/")
            and r[1] in PRIORITIES
            for r in v
        )
    ),
)


def _setting(default: Any, kind: _Kind, doc: str, *, secret: bool = False) -> Any:
    return field(default=default, metadata={"kind": kind, "doc": doc, "secret": secret})


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    """Everything poise can be told, with the defaults an untuned app gets.

    Build one in code (``Settings(block_threshold=0.1)``), from the environment
    (``Settings.from_env()``), or let ``Poise(app)`` do the latter. Each field can be
    overridden by the environment variable ``POISE_<FIELD NAME IN CAPITALS>``.

    Raises:
        SettingsError: a field has a value outside its accepted form.
    """

    block_threshold: float = _setting(
        DEFAULT_BLOCK_THRESHOLD,
        _duration(0.001, 60.0),
        "A single event-loop step at least this long is a block: an incident, with "
        "its stack, culprit and the requests it stalled.",
    )
    loop_monitor: bool = _setting(
        True,
        _BOOLEAN,
        "Time every step of each request's tasks (on_loop), run the watchdog thread "
        "that catches blocks, measure loop lag and the thread pool. Off: those "
        "fields stay 0 and the stats sections are null.",
    )
    incident_ring: int = _setting(
        DEFAULT_INCIDENT_RING,
        _integer(1, 10_000),
        "How many incidents (event-loop blocks) are kept for /api/stats.",
    )
    server_timing: bool = _setting(
        False,
        _BOOLEAN,
        "Add a Server-Timing response header with the ledger's parts (app, on_loop, "
        "stalled, threadpool, admission), so browser devtools show them. Off by default: it "
        "tells every client how the server spends its time.",
    )
    admin_prefix: str = _setting(
        DEFAULT_ADMIN_PREFIX,
        _URL_PATH,
        "Where poise's own admin API is served: {prefix}/api/stats and {prefix}/api/requests.",
    )
    admin_token: str | None = _setting(
        None,
        _TOKEN,
        "Opens the admin data (the admin API, /healthz in full) on any port to requests "
        "carrying 'Authorization: Bearer <token>'. Unset: on the app's port nobody reads "
        "it; see admin_port.",
        secret=True,
    )
    cors_origins: tuple[str, ...] = _setting(
        (),
        _ORIGINS,
        "For apps that add CORS outside their CORSMiddleware (a proxy, middleware of their "
        "own): the origins allowed to read poise's own 503 and 504. An app's CORSMiddleware "
        "is used instead when it has one. Empty: none.",
    )
    openapi_responses: bool = _setting(
        False,
        _BOOLEAN,
        "List poise's own answers in a FastAPI app's OpenAPI schema: 503 (shed, with "
        "Retry-After) on every operation admission may shed, 504 on those with a deadline.",
    )
    admin_port: int | None = _setting(
        None,
        _PORT,
        "Also serve the admin data on this port, bound to admin_host, without a token to "
        "clients on this host (loopback addresses): a listener no proxy forwards to, "
        "unlike the app's port. Unset: off (the token is then the only way in).",
    )
    admin_host: str = _setting(
        "127.0.0.1",
        _HOST,
        "The address the admin port listens on. Keep it a loopback address (127.0.0.1 "
        "or ::1): bound anywhere else, it still answers loopback clients only.",
    )
    recent_requests: int = _setting(
        DEFAULT_RECENT_REQUESTS,
        _integer(1, 100_000),
        "How many finished request ledgers are kept for /api/requests (a ring buffer).",
    )

    admission: bool | Literal["observe"] = _setting(
        True,
        _ADMISSION,
        "Adaptive admission control: a concurrency limit learned from latency, a queue "
        "that holds a crowd the app keeps pace with and sheds (503 + Retry-After) an "
        "overload it cannot. 'observe': admit everything and count what would have been "
        "shed, and why. Off: every request goes straight to the app (deadlines still "
        "apply).",
    )
    admission_min_limit: int = _setting(
        4,
        _integer(1, 100_000),
        "The concurrency limit never goes below this many requests in the app at once.",
    )
    admission_max_limit: int = _setting(
        1000,
        _integer(1, 100_000),
        "The concurrency limit never goes above this many requests in the app at once.",
    )
    admission_max_wait: float = _setting(
        10.0,
        _duration(0.001, 3600.0),
        "The longest a request is held in admission's queue before it is shed "
        "(queue_timeout); a request's deadline shortens it.",
    )
    admission_max_queue: int = _setting(
        2048,
        _integer(1, 1_000_000),
        "The most requests held in admission's queue at once; beyond it they are shed (limit).",
    )
    hung_after: float | None = _setting(
        30.0,
        _optional_duration(0.01, 86_400.0),
        "A request still running this long without starting its response is reported "
        "hung (logged once a minute per route, counted in the stats). Unset: never.",
    )
    debug_headers: bool = _setting(
        False,
        _BOOLEAN,
        "Add a Poise-Shed-Reason header (limit, queue_timeout, priority, deadline, "
        "draining) to every request poise refuses. Off by default: it tells clients "
        "about the server's state.",
    )
    admission_priorities: tuple[tuple[str, str], ...] = _setting(
        (),
        _PRIORITY_RULES,
        "Priority by path pattern (fnmatch globs, first match wins): critical is "
        "admitted as long as anything is, sheddable is shed first. A route's own "
        "@poise.route(priority=...) wins over these.",
    )
    deadline: float | None = _setting(
        None,
        _optional_duration(0.001, 86_400.0),
        "Default deadline of every request (route options override it): past it the "
        "handler is cancelled and 504 sent (or the connection closed if the response "
        "started). Unset: only routes with their own deadline have one.",
    )
    deadline_header: str | None = _setting(
        None,
        _HEADER_NAME,
        "A request header carrying the caller's remaining budget in seconds (e.g. "
        "X-Request-Deadline: 0.8), capped by the route's deadline. Unset: not read. "
        "Malformed or negative values are ignored and counted.",
    )

    livez_path: str | None = _setting(
        "/livez",
        _optional_path(),
        "Liveness probe: 503 only when the event loop has not come back for "
        "live_loop_stuck. Answered before the app and before admission. Unset: off.",
    )
    readyz_path: str | None = _setting(
        "/readyz",
        _optional_path(),
        "Readiness probe: 503 while starting, degraded (a critical check failing, a pool "
        "saturated, loop lag or shedding too high) or draining. Unset: off.",
    )
    startupz_path: str | None = _setting(
        "/startupz",
        _optional_path(),
        "Startup probe: 200 once the lifespan start-up finished and every critical check "
        "passed once. Unset: off.",
    )
    healthz_path: str | None = _setting(
        "/healthz",
        _optional_path(),
        "Everything, as application/health+json: full detail for admin clients (loopback "
        "or the admin token), the status alone for others. Unset: off.",
    )
    probe_port: int | None = _setting(
        None,
        _PORT,
        "Also serve the live/ready/startup probes on this port from a thread of their "
        "own, so they answer while the loop is congested or blocked. Unset: off.",
    )
    probe_host: str = _setting(
        "0.0.0.0",
        _HOST,
        "The address the probe port listens on (the kubelet probes the pod's IP).",
    )
    threadpool_starved_after: float = _setting(
        2.0,
        _duration(0.05, 3600.0),
        "Every thread-pool token busy while calls wait for one, for this long, is a "
        "threadpool_starved incident; while no job finishes within it either, a "
        "deadlock, and /readyz fails until it clears.",
    )
    live_loop_stuck: float = _setting(
        10.0,
        _duration(0.5, 3600.0),
        "/livez fails once the event loop has not come back for this long (a busy loop "
        "is alive; a stuck one is not).",
    )
    ready_max_lag: float = _setting(
        0.5,
        _duration(0.01, 60.0),
        "/readyz fails while the loop lag p99 over the last 10 s is above this (and "
        "recovers below half of it).",
    )
    ready_max_shed: float = _setting(
        0.5,
        _FRACTION,
        "/readyz fails while admission sheds more than this fraction of the requests "
        "over the last 10 s (and recovers below half of it).",
    )
    ready_pool_window: float = _setting(
        1.0,
        _duration(0.0, 600.0),
        "/readyz fails once a tracked pool has been saturated (every connection in use, "
        "requests waiting) for this long.",
    )
    starting_warn_after: float = _setting(
        10.0,
        _duration(0.1, 3600.0),
        "Still starting this long after start-up began (a critical check has not passed "
        "yet): logged as a warning with the checks' reasons, then once a minute.",
    )
    ready_hold: float = _setting(
        2.0,
        _duration(0.0, 600.0),
        "Readiness stays in ready or degraded at least this long before changing, so a "
        "borderline signal does not make it flap.",
    )
    drain_delay: float = _setting(
        5.0,
        _duration(0.0, 3600.0),
        "poise run: after SIGTERM/SIGINT, /readyz answers 503 and the app keeps "
        "serving this long, so load balancers stop sending, before the listener closes.",
    )
    drain_timeout: float = _setting(
        20.0,
        _duration(0.0, 3600.0),
        "poise run: how long requests in flight may take to finish once the listener "
        "closed, before the lifespan shutdown runs.",
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            kind: _Kind = f.metadata["kind"]
            value = getattr(self, f.name)
            if not kind.check(value):
                raise SettingsError(
                    f"Settings.{f.name}={_shown(f, value)} is not valid: expected {kind.accepted}"
                )
        if self.admission_min_limit > self.admission_max_limit:
            raise SettingsError(
                f"admission_min_limit={self.admission_min_limit} is above "
                f"admission_max_limit={self.admission_max_limit}: the minimum must not "
                "exceed the maximum"
            )
        paths = [p for p in (self.livez_path, self.readyz_path, self.startupz_path,
                             self.healthz_path) if p is not None]  # fmt: skip
        if len(set(paths)) != len(paths):
            raise SettingsError(
                f"the health endpoints need distinct paths, got {paths}: give each of "
                "livez_path, readyz_path, startupz_path and healthz_path its own"
            )
        prefix = self.admin_prefix
        for name in ("livez_path", "readyz_path", "startupz_path", "healthz_path"):
            path = getattr(self, name)
            if path is not None and (path == prefix or path.startswith(prefix + "/")):
                raise SettingsError(
                    f"{name}={path!r} is under admin_prefix={prefix!r}, where poise serves "
                    "its admin API: give the health endpoint a path of its own"
                )

    def __repr__(self) -> str:
        parts = (f"{f.name}={_shown(f, getattr(self, f.name))}" for f in dataclasses.fields(self))
        return f"Settings({', '.join(parts)})"

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied and validated."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, base: Settings | None = None
    ) -> Settings:
        """``base`` (or the defaults) with every ``POISE_*`` variable applied on top.

        Args:
            environ: where to read variables from; ``os.environ`` when omitted.
            base: settings the variables override; ``Settings()`` when omitted.

        Raises:
            SettingsError: a variable holds a value that cannot be parsed or is out of
                range; the message names the variable, the value and the accepted form.
        """
        env = os.environ if environ is None else environ
        base = cls() if base is None else base
        fields = {ENV_PREFIX + f.name.upper(): f for f in dataclasses.fields(cls)}
        changes: dict[str, Any] = {}
        for name, text in env.items():
            if not name.startswith(ENV_PREFIX):
                continue
            f = fields.get(name)
            if f is None:
                if name not in _NON_SETTING_ENV:
                    _warn_unknown(name, list(fields))
                continue
            kind: _Kind = f.metadata["kind"]
            shown = _shown(f, text)
            try:
                value = kind.parse(text)
            except ValueError:
                raise SettingsError(
                    f"{name}={shown} is not valid: expected {kind.accepted}"
                ) from None
            if not kind.check(value):
                raise SettingsError(f"{name}={shown} is not valid: expected {kind.accepted}")
            changes[f.name] = value
        return dataclasses.replace(base, **changes) if changes else base

    def describe(self) -> list[tuple[str, str, str, str, str]]:
        """``(field, environment variable, default, value, description)`` per field.

        Values are shown as ``repr`` would show them, secrets masked.
        """
        return [
            (
                f.name,
                ENV_PREFIX + f.name.upper(),
                _shown(f, f.default),
                _shown(f, getattr(self, f.name)),
                f.metadata["doc"],
            )
            for f in dataclasses.fields(self)
        ]


#: A value shown in an error or repr is cut to this many characters.
_SHOWN_MAX: Final = 60


def _shown(f: dataclasses.Field[Any], value: Any) -> str:
    if f.metadata["secret"] and value is not None:
        return "'***'"
    if isinstance(value, str) and len(value) > _SHOWN_MAX:
        return repr(value[:_SHOWN_MAX]) + f" (cut, {len(value)} characters)"
    return repr(value)


#: The unknown variables already warned about (settings are read more than once per
#: process: by `poise run`, then by the app's Poise).
_warned: set[str] = set()


def _warn_unknown(name: str, known: list[str]) -> None:
    if name in _warned:
        return
    _warned.add(name)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    logger.warning("poise: ignoring unknown environment variable %s%s", name, hint)
