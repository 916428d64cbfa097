"""The frameworks' own test suites, bare and with ``Poise(app)`` on every app they build.

    .venv/bin/python bench/suites.py                         # both, as make test runs them
    .venv/bin/python bench/suites.py --only starlette --json bench/results/suites.json
    .venv/bin/python bench/suites.py --only fastapi --full   # FastAPI's whole suite

poise must not change what an app does. The strongest check at hand is the frameworks'
own suites: every ``Starlette`` (and ``FastAPI``) they build gets ``Poise(app)`` (a
pytest plugin patches ``__init__``), and every test that passes bare must pass with
poise, on asyncio and on trio (the suites run both). Each suite comes from the version's
sdist on the package index, in a throwaway virtualenv with poise installed from this
checkout. Starlette's runs whole (about 10 s); FastAPI's top-level test files by
default (about 2,300 tests, 40 s; ``--full``: all of them, with its tutorials).

Failures with poise that are not failures bare are the verdict; the allow-list below
names any that are accepted, with the reason. Exit status 1 when there is any other.
Tests that cannot run here (an optional dependency not installed: FastAPI's telemetry
tests need logfire) fail the same way both times and are reported, not judged.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Test ids that fail with poise and not bare, accepted, each with its reason. Empty:
#: none is accepted today.
ALLOWED: dict[str, str] = {}

#: Per framework: the version, what its suite needs (at versions of its time), the
#: default test selection.
SUITES: dict[str, dict[str, object]] = {
    "starlette": {
        "version": "0.47.3",
        "install": ["starlette[full]=={version}", "pytest==8.4.1", "trio==0.30.0",
                    "anyio==4.9.0", "httpx==0.28.1", "importlib-metadata==8.7.0"],
        "tests": ["tests"],
        "full": ["tests"],
    },
    "fastapi": {
        "version": "0.165.0",
        "install": ["fastapi[standard]=={version}", "pytest<9.2", "pytest-timeout",
                    "anyio[trio]", "dirty-equals", "inline-snapshot", "sqlmodel", "pyyaml",
                    "flask", "pwdlib[argon2]", "pyjwt", "a2wsgi", "httpx2",
                    "python-slugify"],
        "tests": ["tests/test_*.py"],
        "full": ["tests"],
    },
}  # fmt: skip

PLUGIN = '''
"""Every Starlette (and FastAPI) app the suite builds gets Poise(app)."""
from starlette.applications import Starlette

from poise import AlreadyInstalledError, Poise


def _patch(cls):
    init = cls.__init__

    def _with_poise(self, *args, **kwargs):
        init(self, *args, **kwargs)
        try:
            Poise(self)
        except AlreadyInstalledError:  # FastAPI's __init__ may run Starlette's too
            pass

    cls.__init__ = _with_poise


_patch(Starlette)
try:
    from fastapi import FastAPI
except ImportError:
    pass
else:
    _patch(FastAPI)
'''

OUTCOME = re.compile(r"^(FAILED|ERROR) (\S+)", re.M)
SUMMARY = re.compile(r"(\d+) (passed|failed|errors?|xfailed|skipped)")


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload, no-any-return]


def prepare(framework: str, version: str, work: Path) -> tuple[Path, Path]:
    """The suite's directory and the venv's python."""
    python = work / "venv" / "bin" / "python"
    venv.create(work / "venv", with_pip=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    install = [str(d).format(version=version) for d in SUITES[framework]["install"]]  # type: ignore[attr-defined]
    for step in (
        [*pip, *install, "click", "rich"],
        [*pip, "--no-deps", "-e", str(ROOT)],
    ):
        done = run(step)
        if done.returncode != 0:
            raise SystemExit(f"installing failed: {' '.join(step)}\n{done.stdout}{done.stderr}")
    done = run([str(python), "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                "-d", str(work), f"{framework}=={version}"])  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"downloading the sdist failed:\n{done.stdout}{done.stderr}")
    with tarfile.open(work / f"{framework}-{version}.tar.gz") as sdist:
        sdist.extractall(work, filter="data")
    source = work / f"{framework}-{version}"
    # The suite tests the installed package: its own copy of the sources must not shadow it.
    (source / framework).rename(source / f"_{framework}_sources")
    (work / "poise_everywhere.py").write_text(PLUGIN)
    return source, python


def suite(
    source: Path, python: Path, tests: list[str], *, poised: bool
) -> tuple[dict[str, int], set[str], float]:
    """Counts, failing test ids and seconds of one run."""
    selected = sorted(str(p.relative_to(source)) for t in tests for p in source.glob(t))
    command = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE",
               "--continue-on-collection-errors", *selected]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("POISE_")}
    if poised:
        command[3:3] = ["-p", "poise_everywhere"]
        env["PYTHONPATH"] = str(source.parent)
    started = time.perf_counter()
    done = run(command, cwd=source, env=env, timeout=900)
    elapsed = time.perf_counter() - started
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    counts = {kind: int(n) for n, kind in SUMMARY.findall(summary)}
    if not counts.get("passed"):
        raise SystemExit(f"the suite did not run ({' '.join(command)}):\n"
                         f"{done.stdout[-3000:]}{done.stderr[-3000:]}")  # fmt: skip
    return counts, {match[1] for match in OUTCOME.findall(done.stdout)}, elapsed


def check(framework: str, version: str, *, full: bool) -> dict[str, object]:
    """One framework's suite, bare then with poise."""
    tests = SUITES[framework]["full" if full else "tests"]
    assert isinstance(tests, list)
    with tempfile.TemporaryDirectory(prefix="poise-suites-") as tmp:
        source, python = prepare(framework, version, Path(tmp))
        bare, bare_failing, bare_s = suite(source, python, tests, poised=False)
        poised, poised_failing, poised_s = suite(source, python, tests, poised=True)
    added = sorted(poised_failing - bare_failing)
    return {
        "framework": framework, "version": version, "tests": tests,
        "bare": bare, "poised": poised, "bare_seconds": round(bare_s, 1),
        "poised_seconds": round(poised_s, 1), "failing_bare": sorted(bare_failing),
        "failing_only_with_poise": added,
        "allowed": {t: ALLOWED[t] for t in added if t in ALLOWED},
        "unexplained": [t for t in added if t not in ALLOWED],
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(SUITES), help="one framework's suite")
    parser.add_argument("--starlette", default=SUITES["starlette"]["version"])
    parser.add_argument("--fastapi", default=SUITES["fastapi"]["version"])
    parser.add_argument("--full", action="store_true", help="FastAPI's whole suite")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    frameworks = [args.only] if args.only else sorted(SUITES, reverse=True)
    results = [check(f, getattr(args, f), full=args.full) for f in frameworks]
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "python": sys.version.split()[0], "suites": results,
    }  # fmt: skip
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    unexplained = [t for r in results for t in r["unexplained"]]  # type: ignore[attr-defined]
    if unexplained:
        print(f"{len(unexplained)} test(s) fail only with poise", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
