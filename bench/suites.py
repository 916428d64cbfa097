"""Starlette's own test suite, bare and with ``Poise(app)`` on every app it builds.

    .venv/bin/python bench/suites.py                      # Starlette 0.47.3 (default)
    .venv/bin/python bench/suites.py --starlette 0.47.3 --json bench/results/suites.json

poise must not change what an app does. The strongest check at hand is the framework's
own suite: every ``Starlette`` it builds gets ``Poise(app)`` (a pytest plugin patches
``Starlette.__init__``), and every test that passes bare must pass with poise, on
asyncio and on trio (the suite runs both). The suite comes from the version's sdist on
the package index, in a throwaway virtualenv with the versions of its time (the dev
venv's newer anyio turns the old suite's warnings into errors), with poise installed
from this checkout.

Failures with poise that are not failures bare are the verdict; the allow-list below
names any that are accepted, with the reason. Exit status 1 when there is any other.
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

#: What the old suite needs beside ``starlette[full]``, at versions of its time.
SUITE_DEPS = ["pytest==8.4.1", "trio==0.30.0", "anyio==4.9.0", "httpx==0.28.1",
              "importlib-metadata==8.7.0", "click", "rich"]  # fmt: skip

PLUGIN = '''
"""Every Starlette app the suite builds gets Poise(app)."""
from starlette.applications import Starlette

from poise import Poise

_init = Starlette.__init__


def _with_poise(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    Poise(self)


Starlette.__init__ = _with_poise
'''

OUTCOME = re.compile(r"^(FAILED|ERROR) (\S+)", re.M)
SUMMARY = re.compile(r"(\d+) (passed|failed|errors?|xfailed|skipped)")


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload, no-any-return]


def prepare(version: str, work: Path) -> tuple[Path, Path]:
    """The suite's directory and the venv's python."""
    python = work / "venv" / "bin" / "python"
    venv.create(work / "venv", with_pip=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    for step in (
        [*pip, f"starlette[full]=={version}", *SUITE_DEPS],
        [*pip, "--no-deps", "-e", str(ROOT)],
    ):
        done = run(step)
        if done.returncode != 0:
            raise SystemExit(f"installing failed: {' '.join(step)}\n{done.stdout}{done.stderr}")
    done = run([str(python), "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                "-d", str(work), f"starlette=={version}"])  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"downloading the sdist failed:\n{done.stdout}{done.stderr}")
    with tarfile.open(work / f"starlette-{version}.tar.gz") as sdist:
        sdist.extractall(work, filter="data")
    source = work / f"starlette-{version}"
    # The suite tests the installed package: its own copy of the sources must not shadow it.
    (source / "starlette").rename(source / "_starlette_sources")
    (work / "poise_everywhere.py").write_text(PLUGIN)
    return source, python


def suite(source: Path, python: Path, *, poised: bool) -> tuple[dict[str, int], set[str], float]:
    """Counts, failing test ids and seconds of one run."""
    command = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE", "tests"]
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starlette", default="0.47.3", help="the Starlette version")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="poise-suites-") as tmp:
        source, python = prepare(args.starlette, Path(tmp))
        bare, bare_failing, bare_s = suite(source, python, poised=False)
        poised, poised_failing, poised_s = suite(source, python, poised=True)
    added = sorted(poised_failing - bare_failing)
    unexplained = [test for test in added if test not in ALLOWED]
    result = {
        "starlette": args.starlette, "python": sys.version.split()[0],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "bare": bare, "poised": poised, "bare_seconds": round(bare_s, 1),
        "poised_seconds": round(poised_s, 1), "failing_bare": sorted(bare_failing),
        "failing_only_with_poise": added, "allowed": {t: ALLOWED[t] for t in added if t in ALLOWED},
    }  # fmt: skip
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if unexplained:
        print(f"{len(unexplained)} test(s) fail only with poise", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
