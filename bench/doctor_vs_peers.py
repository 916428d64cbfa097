"""How ``poise doctor`` compares with ruff and flake8-async on the doctor corpus.

Every case of ``tests/doctor/corpus/<case>/`` says in ``expected.toml`` which findings
a correct analysis reports. This runs three tools over the same cases in one go:

- ``poise doctor CASE --format json --fail-on never``, once per case directory;
- ``ruff check --select ASYNC,S113 --output-format json --no-cache --isolated``;
- ``flake8-async`` (its standalone command line, every rule it enables by default),

and prints recall and precision per tool, per rule (PSE101 .. PSE110) and overall.

Findings are compared at the granularity (case, rule, file, line): the peers know
nothing of routes, so a poise finding reached from several routes (or entries) counts
once, and so does an expected finding listed once per route. Every expected finding
counts, info ones included (PSE107, PSE108, and PSE101-103 downgraded to info in
lifespan or cached code).

The peers' codes are mapped onto poise's rules; codes with no counterpart (ASYNC100,
ASYNC109, ASYNC110, ASYNC115, ASYNC116, ...) are ignored entirely, neither true nor
false positives. The peers have nothing for PSE103, PSE104 and PSE106 .. PSE110, so
their recall there is 0 by construction; the table therefore also gives an overall
line restricted to the rules they do cover (PSE101, PSE102, PSE105).

Precision = reported findings that are expected / reported findings (mapped codes
only); recall = expected findings that are reported / expected findings.

    .venv/bin/python bench/doctor_vs_peers.py
    .venv/bin/python bench/doctor_vs_peers.py --json bench/results/doctor_vs_peers.json
    .venv/bin/python bench/doctor_vs_peers.py --tools ruff,flake8-async -v

The peers need ``pip install flake8-async`` (ruff comes with the dev extra).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT / "tests" / "doctor" / "corpus"

RULES = tuple(f"PSE{number}" for number in range(101, 111))
# The rules some peer has a code for; the others are poise's alone.
PEER_RULES = ("PSE101", "PSE102", "PSE105")

# ruff's and flake8-async's codes (they share the ASYNC numbers) -> poise's rules.
PEER_CODES: dict[str, str] = {
    # blocking HTTP: requests/httpx/urllib3/urlopen calls, httpx.Client methods
    "ASYNC210": "PSE101",
    "ASYNC211": "PSE101",
    "ASYNC212": "PSE101",
    # subprocess.*, os.system/popen/spawn*/exec*, os.wait*
    "ASYNC220": "PSE101",
    "ASYNC221": "PSE101",
    "ASYNC222": "PSE101",
    # input(), time.sleep()
    "ASYNC250": "PSE101",
    "ASYNC251": "PSE101",
    # open()/os.open/os.fdopen, blocking methods of file objects, os.path / pathlib I/O
    "ASYNC230": "PSE102",
    "ASYNC231": "PSE102",
    "ASYNC232": "PSE102",
    "ASYNC240": "PSE102",
    # requests/httpx call without a timeout (or with timeout=None)
    "S113": "PSE105",
}

TOOLS = ("poise", "ruff", "flake8-async")
TOOL_TITLES = {"poise": "poise doctor", "ruff": "ruff", "flake8-async": "flake8-async"}

# flake8-async's standalone output: "path:line:col: CODE message".
FLAKE8_ASYNC_LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<code>[A-Z]+\d+)\b")


class Site(NamedTuple):
    """What is compared: one rule at one line of one file of one case."""

    case: str
    rule: str
    file: str
    line: int


@dataclass
class ToolRun:
    """What one tool reported over the corpus, mapped onto poise's rules."""

    tool: str
    version: str
    sites: set[Site] = field(default_factory=set)
    ignored: Counter[str] = field(default_factory=Counter)  # unmapped codes, by code
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class Score:
    expected: int
    reported: int
    matched: int

    @property
    def precision(self) -> float | None:
        return self.matched / self.reported if self.reported else None

    @property
    def recall(self) -> float | None:
        return self.matched / self.expected if self.expected else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "expected": self.expected,
            "reported": self.reported,
            "matched": self.matched,
            "precision": _round(self.precision),
            "recall": _round(self.recall),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def last_line(text: str) -> str:
    """The last non-empty line of a tool's stderr: the error, without the traceback."""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no output on stderr)"


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


# -- the corpus -----------------------------------------------------------------------


# Cases about poise's own ``# poise: ignore`` comments: the peers have their own
# suppression syntax, so counting these lines against them would be unfair.
POISE_ONLY_CASES = frozenset({"052_suppression_comments", "030_suppressions_timeouts"})


def discover_cases(corpus: Path) -> list[Path]:
    """The case directories that hold an ``expected.toml`` (minus the poise-only ones)."""
    return sorted(
        path.parent
        for path in corpus.glob("*/expected.toml")
        if path.parent.name not in POISE_ONLY_CASES
    )


def load_expected(cases: Iterable[Path]) -> set[Site]:
    sites: set[Site] = set()
    for case in cases:
        data = tomllib.loads((case / "expected.toml").read_text(encoding="utf-8"))
        for finding in data.get("finding", []):
            file = Path(finding["file"]).as_posix()
            sites.add(Site(case.name, finding["rule"], file, int(finding["line"])))
    return sites


def python_files(cases: Iterable[Path]) -> list[Path]:
    """Every ``.py`` file of the cases, outside hidden and cache directories."""
    files: list[Path] = []
    for case in cases:
        for path in sorted(case.rglob("*.py")):
            parts = path.relative_to(case).parts
            if not any(part.startswith(".") or part == "__pycache__" for part in parts):
                files.append(path)
    return files


def locate(path: str | Path, corpus: Path) -> tuple[str, str]:
    """``(case, file relative to the case)`` of a path a peer reported."""
    relative = Path(path).resolve().relative_to(corpus.resolve())
    return relative.parts[0], Path(*relative.parts[1:]).as_posix()


# -- the tools ------------------------------------------------------------------------


def run_poise(command: Sequence[str], cases: Sequence[Path]) -> ToolRun:
    run = ToolRun("poise", package_version("poise"))
    started = time.perf_counter()
    for case in cases:
        argv = [*command, "doctor", str(case), "--format", "json", "--fail-on", "never"]
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            run.errors.append(f"{case.name}: exit {proc.returncode}: {last_line(proc.stderr)}")
            continue
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError as exc:
            run.errors.append(f"{case.name}: output is not JSON ({exc})")
            continue
        for finding in report["findings"]:
            rule = finding["rule"]
            if rule not in RULES:
                run.ignored[rule] += 1
                continue
            file = Path(finding["file"])
            if file.is_absolute():
                file = file.resolve().relative_to(case.resolve())
            run.sites.add(Site(case.name, rule, file.as_posix(), int(finding["line"])))
    run.seconds = time.perf_counter() - started
    return run


def _peer_site(run: ToolRun, code: str | None, path: str, line: int, corpus: Path) -> None:
    rule = PEER_CODES.get(code or "")
    if rule is None:
        run.ignored[code or "syntax error"] += 1
        return
    case, file = locate(path, corpus)
    run.sites.add(Site(case, rule, file, line))


def run_ruff(files: Sequence[Path], corpus: Path) -> ToolRun:
    run = ToolRun("ruff", package_version("ruff"))
    argv = [sys.executable, "-m", "ruff", "check", "--select", "ASYNC,S113"]
    argv += ["--output-format", "json", "--no-cache", "--isolated", *map(str, files)]
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    run.seconds = time.perf_counter() - started
    if proc.returncode not in (0, 1):  # 1: it found something
        run.errors.append(f"exit {proc.returncode}: {last_line(proc.stderr)}")
        return run
    for item in json.loads(proc.stdout):
        _peer_site(run, item["code"], item["filename"], item["location"]["row"], corpus)
    return run


def run_flake8_async(files: Sequence[Path], corpus: Path) -> ToolRun:
    run = ToolRun("flake8-async", package_version("flake8-async"))
    argv = [sys.executable, "-m", "flake8_async", *map(str, files)]
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    run.seconds = time.perf_counter() - started
    if proc.returncode not in (0, 1):  # 1: it found something
        run.errors.append(f"exit {proc.returncode}: {last_line(proc.stderr)}")
        return run
    for text in proc.stdout.splitlines():
        match = FLAKE8_ASYNC_LINE.match(text)
        if match is None:
            run.errors.append(f"unexpected output line: {text!r}")
            continue
        _peer_site(run, match["code"], match["path"], int(match["line"]), corpus)
    return run


def poise_command(given: str | None) -> list[str]:
    """How to start poise: ``--poise``, else the ``poise`` beside this interpreter."""
    if given:
        return given.split()
    beside = Path(sys.executable).with_name("poise")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("poise")
    if found is None:
        raise SystemExit("poise not found: install it (make) or pass --poise COMMAND")
    return [found]


# -- scoring and output ---------------------------------------------------------------


def score(expected: set[Site], reported: set[Site], rules: Iterable[str]) -> Score:
    wanted = set(rules)
    exp = {site for site in expected if site.rule in wanted}
    rep = {site for site in reported if site.rule in wanted}
    return Score(len(exp), len(rep), len(exp & rep))


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def render_table(expected: set[Site], runs: Sequence[ToolRun]) -> str:
    rows: list[tuple[str, Sequence[str]]] = [(rule, (rule,)) for rule in RULES]
    rows.append(("overall", RULES))
    rows.append(("peer rules", PEER_RULES))
    cell = "{:>5} {:>5} {:>5} {:>5}"
    header = f"{'rule':<11} {'expected':>8}"
    sub = " " * len(header)
    for run in runs:
        title = TOOL_TITLES[run.tool]
        header += f" | {title:^23}"
        sub += " | " + cell.format("found", "hit", "prec", "rec")
    lines = [header, sub, "-" * len(sub)]
    for label, rules in rows:
        if label == "overall":
            lines.append("-" * len(sub))
        total = score(expected, set(), rules).expected
        line = f"{label:<11} {total:>8}"
        for run in runs:
            s = score(expected, run.sites, rules)
            line += " | " + cell.format(
                s.reported, s.matched, _ratio(s.precision), _ratio(s.recall)
            )
        lines.append(line)
    return "\n".join(lines)


def misses(expected: set[Site], run: ToolRun) -> list[str]:
    """Missed expected findings and unexpected reports, one line each."""
    peer = run.tool != "poise"
    out = [
        f"  missed      {s.case}/{s.file}:{s.line} {s.rule}"
        for s in sorted(expected - run.sites)
        if not peer or s.rule in PEER_RULES
    ]
    out += [
        f"  unexpected  {s.case}/{s.file}:{s.line} {s.rule}" for s in sorted(run.sites - expected)
    ]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument(
        "--tools",
        default=",".join(TOOLS),
        help=f"comma-separated, from {', '.join(TOOLS)} (default: all)",
    )
    parser.add_argument("--poise", help="command that starts poise (default: the venv's)")
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("-v", "--verbose", action="store_true", help="list each tool's misses")
    args = parser.parse_args(argv)

    tools = [name.strip() for name in args.tools.split(",") if name.strip()]
    if unknown := sorted(set(tools) - set(TOOLS)):
        parser.error(f"unknown tools: {', '.join(unknown)}")
    corpus: Path = args.corpus.resolve()
    cases = discover_cases(corpus)
    if not cases:
        raise SystemExit(f"no cases (*/expected.toml) under {corpus}")
    expected = load_expected(cases)
    files = python_files(cases)

    runners: dict[str, Callable[[], ToolRun]] = {
        "poise": lambda: run_poise(poise_command(args.poise), cases),
        "ruff": lambda: run_ruff(files, corpus),
        "flake8-async": lambda: run_flake8_async(files, corpus),
    }
    runs = [runners[name]() for name in TOOLS if name in tools]

    print(
        f"{len(cases)} cases, {len(files)} Python files, {len(expected)} expected "
        f"findings (distinct case/rule/file/line) in {corpus}"
    )
    for run in runs:
        notes = [f"{run.seconds:.2f} s"]
        if run.ignored:
            codes = ", ".join(f"{code} x{n}" for code, n in sorted(run.ignored.items()))
            notes.append(f"ignored (no counterpart): {codes}")
        if run.errors:
            notes.append(f"{len(run.errors)} ERRORS (on stderr): its numbers are incomplete")
        print(f"{TOOL_TITLES[run.tool]} {run.version}: " + "; ".join(notes))
    print()
    print(render_table(expected, runs))
    print()
    print("found: distinct (case, rule, file, line) reported; hit: of those, expected.")
    print("The peers have no counterpart for PSE103, PSE104 and PSE106..PSE110 (recall 0")
    print("there by construction), and flake8-async none for PSE105 (S113 is ruff's, from")
    print("flake8-bandit); 'peer rules' is the overall over PSE101, PSE102 and PSE105.")

    failed = False
    for run in runs:
        if args.verbose:
            print(f"\n{TOOL_TITLES[run.tool]}:")
            print("\n".join(misses(expected, run)) or "  no misses")
        for error in run.errors:
            failed = True
            print(f"{TOOL_TITLES[run.tool]}: error: {error}", file=sys.stderr)

    if args.json:
        result = {
            "corpus": str(corpus),
            "cases": len(cases),
            "python_files": len(files),
            "expected": len(expected),
            "tools": {
                run.tool: {
                    "version": run.version,
                    "seconds": round(run.seconds, 3),
                    "per_rule": {
                        rule: score(expected, run.sites, (rule,)).to_dict() for rule in RULES
                    },
                    "overall": score(expected, run.sites, RULES).to_dict(),
                    "overall_peer_rules": score(expected, run.sites, PEER_RULES).to_dict(),
                    "ignored_codes": dict(sorted(run.ignored.items())),
                    "errors": run.errors,
                    "missed": [list(s) for s in sorted(expected - run.sites)],
                    "unexpected": [list(s) for s in sorted(run.sites - expected)],
                }
                for run in runs
            },
            "peer_code_map": PEER_CODES,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
