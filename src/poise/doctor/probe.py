"""``poise doctor --probe``: run the app in-process, burst its GET routes, measure blocks.

The app is imported, its lifespan run, and each GET route whose parameters can be
filled (path parameters from OpenAPI examples or defaults) gets a short concurrent
burst through httpx's ASGI transport, with poise's loop monitor on. Every block it
measures becomes an incident in the report, and a static finding on the same line is
marked confirmed. Uses poise's public API only (``Poise`` and ``Poise.stats``).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Final

import anyio

from poise import AlreadyInstalledError, Poise, PoiseError
from poise.doctor.model import Incident, ProbedRoute, ProbeResult, Report

__all__ = ["ProbeError", "run_probe"]

CONCURRENCY: Final = 4
REQUEST_TIMEOUT: Final = 10.0
LIFESPAN_TIMEOUT: Final = 30.0
# The watchdog reports a block after it ends; give it a moment to file the incident.
SETTLE: Final = 0.3


class ProbeError(PoiseError):
    """The app cannot be imported, found or started (exit 2, one-line reason)."""


def run_probe(report: Report, target: str, *, cwd: Path, requests: int,
              threshold: float) -> ProbeResult:  # fmt: skip
    """Probe the app ``target`` names and mark ``report``'s confirmed findings.

    Raises:
        ProbeError: the module does not import, holds no ASGI app, or its lifespan fails.
    """
    root = Path(report.root)
    module_name, attr = _module_and_attr(target, cwd, root)
    with _environment(threshold), _import_path(root, cwd), _quiet_poise_log():
        app = _load_app(module_name, attr)
        poise = _poise_of(app)
        result = anyio.run(_probe, app, poise, report, requests, threshold)
    confirmed = {(i.file, i.line) for i in result.incidents if i.file is not None}
    report.findings = [
        f if (f.file, f.line) not in confirmed else _confirmed(f) for f in report.findings
    ]
    return result


def _confirmed(finding: Any) -> Any:
    from dataclasses import replace

    return replace(finding, confirmed=True)


def _module_and_attr(target: str, cwd: Path, root: Path) -> tuple[str, str | None]:
    path = Path(target) if Path(target).is_absolute() else cwd / target
    if path.is_file():
        relative = path.resolve().relative_to(root.resolve()).with_suffix("")
        parts = list(relative.parts)
        if parts and parts[0] == "src":
            parts = parts[1:]
        return ".".join(parts), None
    if path.exists():
        raise ProbeError(f"{target}: --probe needs package.module:app or a file, not a directory")
    module, _, attr = target.partition(":")
    return module, attr


@contextlib.contextmanager
def _environment(threshold: float) -> Iterator[None]:
    """The block threshold for the app's own ``Poise(app)``, if it makes one at import."""
    saved = {k: os.environ.get(k) for k in ("POISE_BLOCK_THRESHOLD", "POISE_LOOP_MONITOR")}
    os.environ["POISE_BLOCK_THRESHOLD"] = repr(threshold)
    os.environ["POISE_LOOP_MONITOR"] = "true"
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _quiet_poise_log() -> Iterator[None]:
    """The incidents go into the report; logging each one as well would garble it."""
    poise_logger = logging.getLogger("poise")
    disabled = poise_logger.disabled
    poise_logger.disabled = True
    try:
        yield
    finally:
        poise_logger.disabled = disabled


@contextlib.contextmanager
def _import_path(root: Path, cwd: Path) -> Iterator[None]:
    added = [str(p) for p in (cwd, root, root / "src") if p.is_dir()]
    saved = list(sys.path)
    sys.path[:0] = added
    try:
        yield
    finally:
        sys.path[:] = saved


def _load_app(module_name: str, attr: str | None) -> Any:
    try:
        module = importlib.import_module(module_name)
    except BaseException as exc:  # the user's module may raise anything, even SystemExit
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise ProbeError(
            f"cannot import {module_name}: {type(exc).__name__}: {exc}".splitlines()[0]
        ) from None
    if attr is not None:
        app = getattr(module, attr, None)
        if app is None:
            raise ProbeError(f"{module_name} has no attribute {attr!r}")
        return app
    from starlette.applications import Starlette

    apps = [v for v in vars(module).values() if isinstance(v, Starlette)]
    if len(apps) != 1:
        raise ProbeError(
            f"{module_name} holds {len(apps)} Starlette/FastAPI apps; name one: {module_name}:app"
        )
    return apps[0]


def _poise_of(app: Any) -> Poise:
    try:
        return Poise(app)
    except AlreadyInstalledError:
        state = getattr(app, "state", None)
        existing = getattr(state, "poise", None)
        if isinstance(existing, Poise):
            return existing
        raise ProbeError("poise is installed on this app in a way the probe cannot read") from None
    except PoiseError as exc:
        raise ProbeError(f"cannot install poise on the app: {exc}") from None


async def _probe(app: Any, poise: Poise, report: Report, requests: int,
                 threshold: float) -> ProbeResult:  # fmt: skip
    try:
        import httpx
    except ImportError:
        raise ProbeError("--probe needs httpx: pip install httpx") from None

    routes = _probe_targets(app, report)
    probed: list[ProbedRoute] = []
    async with _lifespan(poise):
        transport = httpx.ASGITransport(app=poise, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://probe",
                                     timeout=REQUEST_TIMEOUT) as client:  # fmt: skip
            for name, url, skipped in routes:
                if skipped is not None:
                    probed.append(ProbedRoute(name, 0, {}, skipped))
                    continue
                statuses = await _burst(client, url, requests)
                probed.append(ProbedRoute(name, requests, statuses))
        await anyio.sleep(SETTLE)
        stats = poise.stats()
    root = Path(report.root)
    incidents = tuple(_incident(i, root) for i in stats.get("incidents") or ())
    return ProbeResult(threshold, tuple(probed), incidents)


async def _burst(client: Any, url: str, requests: int) -> dict[int, int]:
    statuses: dict[int, int] = {}
    remaining = iter(range(requests))

    async def worker() -> None:
        for _ in remaining:
            try:
                response = await client.get(url)
                status = response.status_code
            except Exception:  # a hung or broken route: counted, the probe goes on
                status = 0
            statuses[status] = statuses.get(status, 0) + 1

    async with anyio.create_task_group() as group:
        for _ in range(CONCURRENCY):
            group.start_soon(worker)
    return statuses


def _probe_targets(app: Any, report: Report) -> list[tuple[str, str, str | None]]:
    """``(route, url, reason skipped or None)`` for each GET route."""
    openapi = getattr(app, "openapi", None)
    if callable(openapi):
        try:
            return _from_openapi(openapi())
        except Exception as exc:  # a broken schema must not end the probe
            report.notes.append(f"probe: the app's OpenAPI schema failed ({exc}); "
                                "using the statically found routes")  # fmt: skip
    out: list[tuple[str, str, str | None]] = []
    for route in report.routes:
        if route.method != "GET":
            continue
        if "{" in route.path:
            out.append((route.name, "", "path parameters and no OpenAPI schema to fill them"))
        else:
            out.append((route.name, route.path, None))
    return out


def _from_openapi(schema: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    out: list[tuple[str, str, str | None]] = []
    for path, operations in schema.get("paths", {}).items():
        operation = operations.get("get")
        if operation is None:
            continue
        name = f"GET {path}"
        url = path
        query: dict[str, str] = {}
        missing = []
        for param in operation.get("parameters", []):
            value = _example(param)
            where = param.get("in")
            if where == "path":
                if value is None:
                    missing.append(param.get("name", "?"))
                else:
                    url = url.replace("{" + str(param.get("name")) + "}", str(value))
            elif where == "query" and param.get("required"):
                if value is None:
                    missing.append(param.get("name", "?"))
                else:
                    query[str(param["name"])] = str(value)
            elif where == "header" and param.get("required") and value is None:
                missing.append(param.get("name", "?"))
        if missing:
            out.append((name, "", f"no example or default for {', '.join(missing)}"))
            continue
        if query:
            from urllib.parse import urlencode

            url += "?" + urlencode(query)
        out.append((name, url, None))
    return out


def _example(param: dict[str, Any]) -> Any:
    schema = param.get("schema", {})
    for source in (param, schema):
        if "example" in source:
            return source["example"]
        examples = source.get("examples")
        if isinstance(examples, list) and examples:
            return examples[0]
        if isinstance(examples, dict) and examples:
            first = next(iter(examples.values()))
            if isinstance(first, dict) and "value" in first:
                return first["value"]
    return schema.get("default")


def _incident(data: dict[str, Any], root: Path) -> Incident:
    file = line = None
    rendered = []
    for frame in data.get("stack", []):
        rendered.append(f"{frame['file']}:{frame['line']} in {frame['function']}")
        if not frame.get("library"):
            try:
                file = Path(frame["file"]).resolve().relative_to(root).as_posix()
            except ValueError:
                file = frame["file"]
            line = frame["line"]
    return Incident(float(data.get("duration_s", 0.0)), data.get("route"), file, line,
                    tuple(rendered))  # fmt: skip


@contextlib.asynccontextmanager
async def _lifespan(app: Any) -> AsyncIterator[None]:
    """Run the app's lifespan around the probe, as a server would.

    Raises:
        ProbeError: start-up failed or did not finish in time.
    """
    to_app: Any
    to_app, from_probe = anyio.create_memory_object_stream[dict[str, Any]](4)
    to_probe, from_app = anyio.create_memory_object_stream[dict[str, Any]](8)
    raised: list[str] = []
    app_raised = anyio.Event()
    error: str | None = None

    async def serve() -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        try:
            await app(scope, from_probe.receive, to_probe.send)
        except Exception as exc:
            raised.append(f"{type(exc).__name__}: {exc}")
            app_raised.set()
            await to_probe.send({"type": "lifespan.startup.failed", "message": raised[-1]})

    async with anyio.create_task_group() as group:
        group.start_soon(serve)
        await to_app.send({"type": "lifespan.startup"})
        message: dict[str, Any] = {"type": "timeout"}
        with anyio.move_on_after(LIFESPAN_TIMEOUT):
            message = await from_app.receive()
        if message["type"] == "lifespan.startup.complete":
            try:
                yield
            finally:
                await to_app.send({"type": "lifespan.shutdown"})
                with anyio.move_on_after(LIFESPAN_TIMEOUT):
                    await from_app.receive()
                group.cancel_scope.cancel()
        else:
            if message["type"] == "timeout":
                error = f"start-up did not finish within {LIFESPAN_TIMEOUT:g} s"
            else:
                # Starlette sends the whole traceback; its last line names the error.
                with anyio.move_on_after(1):
                    await app_raised.wait()
                reason = raised[-1] if raised else _last_line(message.get("message"))
                error = f"the app's start-up failed: {reason}"
            group.cancel_scope.cancel()
    if error is not None:
        raise ProbeError(error)


def _last_line(text: Any) -> str:
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no reason given"
