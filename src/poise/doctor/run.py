"""``diagnose()``: a target in, a :class:`~poise.doctor.model.Report` out."""

from __future__ import annotations

import sys
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Final, cast

from poise import __version__
from poise.doctor.analysis import Analyzer
from poise.doctor.catalog import Catalog
from poise.doctor.entries import Entry, EntryFinder
from poise.doctor.model import Finding, Report, RouteInfo
from poise.doctor.project import DoctorConfig, DoctorError, Project, default_cache_dir
from poise.doctor.resolve import Resolver
from poise.doctor.rules import RULES, Severity
from poise.doctor.summary import ModuleSummary

__all__ = ["USE_DEFAULT_CACHE", "diagnose", "split_target"]

USE_DEFAULT_CACHE: Final = Path("<default>")
RECURSION_LIMIT: Final = 10_000


def split_target(target: str, cwd: Path) -> tuple[Path | None, str | None, str | None]:
    """``(path, None, None)`` for a file or directory, ``(None, module, attr)`` for ``m:app``.

    Raises:
        DoctorError: it is neither an existing path nor ``module:attribute``.
    """
    if not target.strip():
        raise DoctorError("no target given: name a package.module:app, a file or a directory")
    path = Path(target) if Path(target).is_absolute() else cwd / target
    if path.exists():
        return path, None, None
    module, sep, attr = target.partition(":")
    if sep and module and attr and all(p.isidentifier() for p in (*module.split("."), attr)):
        return None, module, attr
    raise DoctorError(
        f"{target}: no such file or directory (a module target looks like package.module:app)"
    )


def diagnose(
    target: str,
    *,
    cwd: Path | None = None,
    cache_dir: Path | None = USE_DEFAULT_CACHE,
    config: DoctorConfig | None = None,
) -> Report:
    """Statically audit ``target`` (``pkg.module:app``, a ``.py`` file or a directory).

    Args:
        target: what to audit.
        cwd: the directory a module target is imported from (default: the current one).
        cache_dir: where parsed files are cached; ``None`` for no cache.
        config: overrides ``[tool.poise.doctor]`` from the project's pyproject.toml.

    Raises:
        DoctorError: the target does not exist, is not Python, or names no app.
    """
    # Resolution recurses through names, attributes and calls; deep chains in large
    # code bases need more than Python's default 1000 frames.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))
    cwd = (cwd or Path.cwd()).resolve()
    path, module_name, attr = split_target(target, cwd)
    if path is not None:
        path = path.resolve()
        if path.is_file() and path.suffix != ".py":
            raise DoctorError(f"{target}: not a Python file")
        root = _import_root(path if path.is_dir() else path.parent)
    else:
        root = cwd
    if config is None:
        config = DoctorConfig.load(root)
    if cache_dir == USE_DEFAULT_CACHE:
        cache_dir = default_cache_dir()
    project = Project(root, config, cache_dir)
    catalog = Catalog.bundled(config.sinks)
    resolver = Resolver(project, catalog)

    starting: list[ModuleSummary] = []
    if path is None:
        assert module_name is not None
        found = project.module(module_name)
        if found is None:
            raise DoctorError(f"{target}: cannot find module {module_name!r} under {root}")
        starting.append(found)
    elif path.is_file():
        found = project.add_file(path)
        if found is None:
            raise DoctorError(f"{target}: cannot name this file as a module under {root}")
        if found.syntax_error is not None:
            # The file itself does not parse: that is the answer, not "no app found".
            raise DoctorError(f"{target}: does not parse: {found.syntax_error}")
        starting.append(found)
    else:
        for file in project.python_files(path):
            loaded = project.add_file(file)
            if loaded is not None:
                starting.append(loaded)
    _load_imports(project, starting)

    finder = EntryFinder(resolver)
    finder.scan(list(project.loaded()))
    if path is not None and not finder.objects:
        unparsed = project.syntax_errors
        hint = (
            f"; {len(unparsed)} file(s) do not parse, the first: {unparsed[0]}" if unparsed else ""
        )
        raise DoctorError(
            f"{target}: no FastAPI or Starlette app or router found (nothing to audit){hint}"
        )
    slots: list[str] | None = None
    if module_name is not None and attr is not None:
        slot = finder.slot(("g", f"{module_name}.{attr}"))
        if slot is None:
            raise DoctorError(
                f"{target}: {attr!r} in {module_name} is not a FastAPI or Starlette app (or "
                "router) that can be found statically"
            )
        slots = [slot]
    elif path is not None and path.is_file():
        own = starting[0].name
        slots = [s for s in finder.objects if s.startswith((f"{own}.", f"{own}:"))] or None
    roots = finder.roots_for(slots, outermost=module_name is None)
    entries = finder.entries(roots)

    analyzer = Analyzer(resolver, catalog, pool_budget=config.pool_budget)
    modules = {m.path: m for m in project.loaded()}
    module_names = sorted(m.name for m in modules.values())
    findings = _finalize(analyzer.findings(entries, module_names), modules, config)
    report = Report(
        poise_version=__version__,
        target=target,
        root=str(root),
        findings=findings,
        routes=_routes(entries, resolver, findings),
        files=sum(1 for _ in project.loaded()),
        lines=project.lines,
    )
    report.notes.extend(f"not analysed: {error}" for error in project.syntax_errors)
    report.notes.extend(
        f"internal error, skipped (please report it): {error}"
        for error in (*finder.errors, *analyzer.errors)
    )
    if not entries:
        report.notes.append(
            "no FastAPI or Starlette entry points found: nothing is reachable to analyse"
        )
    return report


def _import_root(directory: Path) -> Path:
    """The project root for a file or directory target: above its packages, and above
    ``src/`` in a src layout (the project then also imports from ``src/``), so reported
    paths and ``ignore`` globs are relative to the root as for ``module:app`` targets."""
    root = directory
    while (root / "__init__.py").is_file() and root.parent != root:
        root = root.parent
    if root.name == "src" and root.parent != root:
        return root.parent
    return root


def _load_imports(project: Project, starting: list[ModuleSummary]) -> None:
    """Load every project module the starting ones import, transitively."""
    queue = deque(starting)
    seen = {m.name for m in starting}
    while queue:
        summary = queue.popleft()
        names = [*summary.imports.values(), *summary.star_imports]
        for func in summary.functions.values():
            names.extend(ref[1] for refs in func.locals.values() for ref in refs
                         if ref is not None and ref[0] == "g")  # fmt: skip
        for name in names:
            parts = name.split(".")
            for cut in range(len(parts), 0, -1):
                candidate = ".".join(parts[:cut])
                if candidate in seen:
                    break
                found = project.module(candidate)
                if found is not None:
                    seen.add(candidate)
                    queue.append(found)
                    break


def _finalize(findings: list[Finding], modules: dict[str, ModuleSummary],
              config: DoctorConfig) -> list[Finding]:  # fmt: skip
    out: dict[tuple[str, str, int, int, str], Finding] = {}
    for finding in findings:
        module = modules.get(finding.file)
        if module is not None:
            suppressed = module.suppressed.get(finding.line)
            if suppressed is not None and (not suppressed or finding.rule in suppressed):
                continue
        override = config.severity.get(finding.rule)
        if override == "off":
            continue
        if override is not None and finding.severity == RULES[finding.rule].severity:
            finding = replace(finding, severity=cast("Severity", override))
        out.setdefault((finding.rule, finding.file, finding.line, finding.col, finding.entry),
                       finding)  # fmt: skip
    return sorted(out.values(), key=lambda f: f.sort_key)


def _routes(entries: list[Entry], resolver: Resolver, findings: list[Finding]) -> list[RouteInfo]:
    jumps: dict[str, int] = {}
    for finding in findings:
        if finding.rule == "PSE108":
            jumps[finding.entry] = jumps.get(finding.entry, 0) + 1
    out = []
    for entry in entries:
        if entry.method is None or entry.path is None or entry.handler is None:
            continue
        func = resolver.func(entry.handler)
        module = resolver.module_of(entry.handler)
        out.append(RouteInfo(
            method=entry.method,
            path=entry.path,
            handler=entry.handler,
            file=module.path if module else "",
            line=func.line if func else 0,
            is_async=bool(func and func.is_async),
            dependencies=tuple(root.key for root in entry.roots[1:]),
            thread_jumps=jumps.get(entry.name, 0),
        ))  # fmt: skip
    return out
