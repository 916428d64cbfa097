"""The project being audited: its root, its modules (loaded on demand), its config.

Modules are found by name under the project root (and ``src/``), parsed once, and
their summaries cached on disk by content hash, so a second run re-parses only the
files that changed.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import pickle
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from poise import PoiseError, __version__
from poise.doctor.rules import RULES
from poise.doctor.summary import SUMMARY_VERSION, ModuleSummary, summarize

__all__ = ["DEFAULT_POOL_BUDGET", "DoctorConfig", "DoctorError", "Project", "default_cache_dir"]

DEFAULT_POOL_BUDGET: Final = 50
# Directories never searched for apps when the target is a directory.
SKIP_DIRS: Final = frozenset({
    ".git", ".hg", ".venv", "venv", ".tox", ".nox", "__pycache__", "node_modules",
    "site-packages", "build", "dist", ".mypy_cache", ".ruff_cache", ".pytest_cache",
})  # fmt: skip
_SEVERITIES: Final = frozenset({"error", "warning", "info", "off"})
_SINK_SECTIONS: Final = frozenset({"blocking", "filesystem", "cpu", "clients", "timeouts",
                                   "event_loop", "offload", "background", "pools"})  # fmt: skip


class DoctorError(PoiseError):
    """The target or the configuration cannot be used (exit 2, one-line reason)."""


@dataclass(frozen=True, slots=True)
class DoctorConfig:
    """``[tool.poise.doctor]`` in the project's ``pyproject.toml``.

    Attributes:
        ignore: glob patterns of files (relative to the root) not analysed.
        severity: per-rule override: ``error``, ``warning``, ``info`` or ``off``.
        sinks: extra catalog entries, by section (same form as ``sinks.toml``).
        pool_budget: connections per process above which PSE110 fires.
        source: where the config came from (for messages), or ``None``.
    """

    ignore: tuple[str, ...] = ()
    severity: dict[str, str] = field(default_factory=dict)
    sinks: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    pool_budget: int = DEFAULT_POOL_BUDGET
    source: str | None = None

    @classmethod
    def load(cls, root: Path) -> DoctorConfig:
        """Read the nearest ``pyproject.toml`` at or above ``root``.

        Raises:
            DoctorError: the file does not parse or the section has a bad value.
        """
        for directory in (root, *root.parents):
            candidate = directory / "pyproject.toml"
            if candidate.is_file():
                break
        else:
            return cls()
        try:
            data = tomllib.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise DoctorError(f"cannot read {candidate}: {exc}") from None
        section = data.get("tool", {}).get("poise", {}).get("doctor", {})
        return cls.from_table(section, source=str(candidate))

    @classmethod
    def from_table(cls, section: dict[str, Any], *, source: str | None = None) -> DoctorConfig:
        where = f"[tool.poise.doctor] in {source}" if source else "[tool.poise.doctor]"
        unknown = set(section) - {"ignore", "severity", "sinks", "pool_budget"}
        if unknown:
            raise DoctorError(
                f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
                "accepted: ignore, severity, sinks, pool_budget"
            )
        ignore = section.get("ignore", [])
        if not isinstance(ignore, list) or not all(isinstance(p, str) for p in ignore):
            raise DoctorError(f"{where}: ignore must be a list of glob strings, got {ignore!r}")
        severity = section.get("severity", {})
        if not isinstance(severity, dict):
            raise DoctorError(f'{where}: severity must be a table like {{ PSE108 = "off" }}')
        for rule, value in severity.items():
            if rule not in RULES:
                raise DoctorError(f"{where}: severity names unknown rule {rule!r}")
            if value not in _SEVERITIES:
                raise DoctorError(
                    f"{where}: severity.{rule} = {value!r}; accepted: error, warning, info, off"
                )
        sinks = section.get("sinks", {})
        if not isinstance(sinks, dict) or not set(sinks) <= _SINK_SECTIONS:
            raise DoctorError(
                f"{where}: sinks must be tables named {', '.join(sorted(_SINK_SECTIONS))}"
            )
        budget = section.get("pool_budget", DEFAULT_POOL_BUDGET)
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
            raise DoctorError(f"{where}: pool_budget must be a positive integer, got {budget!r}")
        return cls(tuple(ignore), dict(severity), sinks, budget, source)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/poise/doctor`` (``~/.cache/poise/doctor``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, "poise", "doctor")


class Project:
    """The project's modules, loaded by name on first use.

    Args:
        root: the import root (the directory that ``import pkg`` is relative to).
        config: the doctor's configuration.
        cache_dir: where parsed summaries are kept; ``None``: no disk cache.
    """

    def __init__(self, root: Path, config: DoctorConfig, cache_dir: Path | None) -> None:
        self.root = root
        self.config = config
        self.cache_dir = cache_dir
        self.search = [root] + ([root / "src"] if (root / "src").is_dir() else [])
        # Which name a file is known by: the deepest search root holding it, so in a src
        # layout src/pkg/x.py is ``pkg.x`` (as the project imports it), not also
        # ``src.pkg.x`` (once as each, its routes appeared twice, the copy without its
        # router's prefix). A ``src`` that is a package of its own (``__init__.py``)
        # is imported as ``src.pkg``: then the root comes first.
        self._naming = sorted(self.search, key=lambda p: len(p.parts), reverse=True)
        if (root / "src" / "__init__.py").is_file():
            self._naming = list(self.search)
        self._modules: dict[str, ModuleSummary | None] = {}
        # Every file is loaded once, whatever name reaches it first (an import spelled
        # another way, ``src.pkg.x`` beside ``pkg.x``, gets the same summary).
        self._by_path: dict[Path, ModuleSummary | None] = {}
        self.lines = 0
        self.parsed = 0
        self.cached = 0
        self.syntax_errors: list[str] = []

    # -- finding modules -----------------------------------------------------------

    def module(self, name: str) -> ModuleSummary | None:
        """The summary of project module ``name``, or ``None`` if it is not the project's."""
        if name in self._modules:
            return self._modules[name]
        found = self._locate(name)
        summary = None if found is None else self._load_once(name, *found)
        self._modules[name] = summary
        return summary

    def _load_once(self, name: str, path: Path, is_package: bool) -> ModuleSummary | None:
        key = path.resolve()
        if key not in self._by_path:
            self._by_path[key] = self._load(name, path, is_package)
        return self._by_path[key]

    def loaded(self) -> Iterator[ModuleSummary]:
        return (m for m in list(self._modules.values()) if m is not None)

    def _locate(self, name: str) -> tuple[Path, bool] | None:
        if not name or not all(part.isidentifier() for part in name.split(".")):
            return None
        parts = name.split(".")
        for base in self.search:
            package = base.joinpath(*parts)
            try:
                if (package / "__init__.py").is_file():
                    return package / "__init__.py", True
                module = package.with_suffix(".py")
                if module.is_file():
                    return module, False
            except OSError:  # a name too long for the file system is no module of ours
                return None
        return None

    def module_name(self, path: Path) -> tuple[str, bool] | None:
        """The module name of the file ``path`` (under one of the search roots)."""
        path = path.resolve()
        for base in self._naming:
            try:
                relative = path.relative_to(base.resolve())
            except ValueError:
                continue
            parts = list(relative.with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            if parts and all(p.isidentifier() for p in parts):
                return ".".join(parts), is_package
        return None

    def add_file(self, path: Path) -> ModuleSummary | None:
        """Load a file of the project by path (for directory and file targets)."""
        named = self.module_name(path)
        if named is None:
            return None
        name, is_package = named
        if name not in self._modules:
            self._modules[name] = self._load_once(name, path, is_package)
        return self._modules[name]

    def python_files(self, directory: Path) -> list[Path]:
        """Every ``.py`` file under ``directory``, skipping virtualenvs, caches, ignored paths."""
        out: list[Path] = []
        for current, dirs, files in os.walk(directory):
            dirs[:] = sorted(
                d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")
                and not d.endswith(".egg-info")
            )  # fmt: skip
            out.extend(Path(current, f) for f in sorted(files) if f.endswith(".py"))
        return out

    def relative(self, path: str | Path) -> str:
        try:
            return Path(path).resolve().relative_to(self.report_root).as_posix()
        except ValueError:
            return Path(path).as_posix()

    @property
    def report_root(self) -> Path:
        return self.root.resolve()

    def ignored(self, relative: str) -> bool:
        return any(fnmatch.fnmatch(relative, pattern) for pattern in self.config.ignore)

    # -- parsing and the cache ----------------------------------------------------

    def _load(self, name: str, path: Path, is_package: bool) -> ModuleSummary | None:
        relative = self.relative(path)
        if self.ignored(relative):
            return None
        try:
            data = path.read_bytes()
        except OSError as exc:
            self.syntax_errors.append(f"{relative}: cannot read: {exc.strerror}")
            return None
        key = hashlib.sha256(
            f"{SUMMARY_VERSION}\0{__version__}\0{name}\0{is_package}\0{relative}\0".encode() + data
        ).hexdigest()
        summary = self._cache_get(key)
        if summary is None:
            source = data.decode("utf-8", errors="replace")
            summary = summarize(source, module=name, path=relative, is_package=is_package)
            self.parsed += 1
            self._cache_put(key, summary)
        else:
            self.cached += 1
        self.lines += summary.lines
        if summary.syntax_error is not None:
            self.syntax_errors.append(f"{relative}: {summary.syntax_error}")
        return summary

    def _cache_get(self, key: str) -> ModuleSummary | None:
        if self.cache_dir is None:
            return None
        try:
            with open(self.cache_dir / key[:2] / key, "rb") as file:
                value = pickle.load(file)
        except (OSError, pickle.PickleError, EOFError, AttributeError, TypeError, ValueError):
            return None
        return value if isinstance(value, ModuleSummary) else None

    def _cache_put(self, key: str, summary: ModuleSummary) -> None:
        if self.cache_dir is None:
            return
        folder = self.cache_dir / key[:2]
        try:
            # Private to the user: summaries are pickles, read back without checks.
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            temporary = folder / f".{key}.{os.getpid()}"
            with open(temporary, "wb") as file:
                pickle.dump(summary, file, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, folder / key)
        except OSError:
            # A read-only or full cache directory only costs speed, never the audit.
            self.cache_dir = None
