"""The sink catalog: what known libraries' calls do, read from ``sinks.toml``.

Third-party code is never analysed; instead each API that blocks, burns CPU, creates a
client or hands work elsewhere is named here by its import path. The catalog is data so
that users extend it in ``[tool.poise.doctor.sinks]`` without code.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final, Literal

from poise.doctor.project import DoctorError

__all__ = ["Catalog", "Sink", "SinkKind"]

SinkKind = Literal["blocking", "filesystem", "cpu", "clients", "timeouts", "event_loop"]
SINK_KINDS: Final[tuple[SinkKind, ...]] = (
    "blocking", "filesystem", "cpu", "clients", "timeouts", "event_loop",
)  # fmt: skip
_TIMEOUTS: Final = frozenset({"required", "none-only"})


@dataclass(frozen=True, slots=True)
class Sink:
    """One catalog entry as it applies to one call."""

    name: str
    kind: SinkKind
    what: str
    timeout: str | None = None
    timeout_pos: int | None = None
    when_arg: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Handoff:
    """An offload boundary or a background hand-off: which argument is the callable.

    ``arg`` is its positional index, ``keyword`` its name when passed by keyword.
    """

    arg: int
    kind: str
    keyword: str = "func"


class Catalog:
    """The bundled catalog, plus the project's additions."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.aliases: list[tuple[str, str]] = sorted(
            data.get("aliases", {}).items(), key=lambda kv: len(kv[0]), reverse=True
        )
        self.types: dict[str, str] = dict(data.get("types", {}))
        self.sinks: dict[str, list[Sink]] = {}
        for kind in SINK_KINDS:
            for name, entry in data.get(kind, {}).items():
                self.sinks.setdefault(name, []).append(_sink(name, kind, entry))
        # Methods a ``Class.*`` wildcard would match but that do no I/O.
        for name in data.get("safe", {}):
            self.sinks[name] = []
        self.offload = {k: _handoff(k, v, "thread") for k, v in data.get("offload", {}).items()}
        self.offload_methods = {
            k: _handoff(k, v, "thread") for k, v in data.get("offload_methods", {}).items()
        }
        self.background = {
            k: _handoff(k, v, "background") for k, v in data.get("background", {}).items()
        }
        self.background_methods = {
            k: _handoff(k, v, "background") for k, v in data.get("background_methods", {}).items()
        }
        self.cache_decorators = frozenset(data.get("cache_decorators", {}))
        self.pools: dict[str, tuple[str, ...]] = {
            k: tuple(v.get("size", ())) for k, v in data.get("pools", {}).items()
        }
        self.pool_keywords = frozenset(kw for kws in self.pools.values() for kw in kws)

    @classmethod
    def bundled(cls, extra: dict[str, dict[str, dict[str, Any]]] | None = None) -> Catalog:
        """The catalog shipped with poise, with ``extra`` sections merged over it.

        Raises:
            DoctorError: an extra entry is malformed.
        """
        text = resources.files("poise.doctor").joinpath("sinks.toml").read_text("utf-8")
        data = tomllib.loads(text)
        for section, entries in (extra or {}).items():
            if not isinstance(entries, dict):
                raise DoctorError(f"[tool.poise.doctor.sinks.{section}] must be a table")
            data.setdefault(section, {}).update(entries)
        return cls(data)

    def canonical(self, name: str) -> str:
        """``name`` with a re-exporting module prefix replaced by the public one."""
        for prefix, public in self.aliases:
            if name == prefix or name.startswith(prefix + "."):
                return public + name[len(prefix) :]
        return name

    def lookup(self, name: str) -> list[Sink]:
        """The entries for calling ``name`` (``requests.get``, ``sqlite3.Connection.execute``)."""
        found = self.sinks.get(name)
        if found is not None:
            return found
        owner, _, method = name.rpartition(".")
        if owner and not method.startswith("__"):
            return self.sinks.get(owner + ".*", [])
        return []


def _sink(name: str, kind: SinkKind, entry: Any) -> Sink:
    if not isinstance(entry, dict):
        raise DoctorError(f'sink {name!r} in [{kind}] must be a table like {{ what = "..." }}')
    timeout = entry.get("timeout")
    if timeout is not None and timeout not in _TIMEOUTS:
        raise DoctorError(f"sink {name!r}: timeout must be 'required' or 'none-only'")
    when = entry.get("when_arg")
    return Sink(
        name=name,
        kind=kind,
        what=str(entry.get("what") or name),
        timeout=timeout,
        timeout_pos=entry.get("timeout_pos"),
        when_arg=None if when is None else frozenset(when),
    )


def _handoff(name: str, entry: Any, default_kind: str) -> Handoff:
    if (
        not isinstance(entry, dict)
        or not isinstance(entry.get("arg", 0), int)
        or not isinstance(entry.get("keyword", "func"), str)
    ):
        raise DoctorError(
            f'{name!r}: an offload or background entry needs {{ arg = N, keyword = "name" }}'
        )
    return Handoff(
        arg=entry.get("arg", 0),
        kind=str(entry.get("kind", default_kind)),
        keyword=entry.get("keyword", "func"),
    )
