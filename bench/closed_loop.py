"""Closed-loop load: bare vs Poise(app) vs uvicorn --limit-concurrency, under wrk.

    .venv/bin/python bench/closed_loop.py --json bench/results/closed_loop.json \\
        --svg docs/img/closed_loop.svg
    .venv/bin/python bench/closed_loop.py --apps light --runs 1 --seconds 5  # a quick look

Closed-loop clients send their next request the instant the last one is answered:
other services with connection pools, browsers that retry, load testers. Their
crowd is bounded by the clients, so a server that holds them serves them all; a server
that sheds them makes them spin. ``bench/overload.py`` (open loop) cannot see this.

Per app (``bench/closed_loop_app.py``): ``light`` (~1 ms CPU + 10 ms awaited),
``overload`` (~5 ms CPU + 20 ms awaited) and ``syncdb`` (sync routes and a sync
SQLAlchemy session on the real PostgreSQL, pool >= the 40 thread tokens). Each app is
served by one uvicorn worker (uvloop, httptools) pinned to CPU 0; wrk runs on CPU 1
with one thread per connection (``bench/wrk_latency.lua`` then times every request by
status, so the 2xx percentiles are the 2xx's own). Phases: 4, 50, 200 then 50
connections, ``--seconds`` each, back to back on one server process.

Variants, interleaved run by run (the order rotates): bare; ``Poise(app)`` with its
defaults; ``uvicorn --limit-concurrency N`` at its best N (searched first, by goodput
over the same phases). poise's admission stats are sampled every 250 ms (the limit over
time). One extra run of ``Poise(app, Settings(admission="observe"))`` shows what
observe mode would have shed.

Verdicts, on the medians of the runs: poise's goodput >= 95 % of bare's in every phase;
poise's 2xx p99 <= 1.1 x bare's + 2 ms; zero 503 at 4 connections; 2 s after the
200-connection phase ends, the limit is within 25 % of its median in the first
50-connection phase.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.overload import ADMIN_HEADERS, _can_pin, server  # noqa: E402

LUA = ROOT / "bench" / "wrk_latency.lua"
PHASES = (4, 50, 200, 50)
APPS = ("light", "overload", "syncdb")
LIMIT_CANDIDATES = (8, 16, 32, 64, 128, 256)
MODULE = "bench.closed_loop_app"
SAMPLE_EVERY = 0.25


# -- wrk ---------------------------------------------------------------------------------


def run_wrk(url: str, connections: int, seconds: float) -> dict[str, Any]:
    """One closed-loop phase: ``connections`` wrk threads of one connection each."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    command = [
        "wrk", f"-t{connections}", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "10s",
        "-s", str(LUA), f"{url}/work",
    ]  # fmt: skip
    if _can_pin():
        command = ["taskset", "-c", "1", *command]
    result = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "WRK_OUT": str(out)},
        check=False, timeout=seconds + 60,
    )  # fmt: skip
    try:
        data = json.loads(out.read_text())
    except ValueError:
        raise RuntimeError(f"wrk failed:\n{result.stdout}\n{result.stderr}") from None
    finally:
        out.unlink(missing_ok=True)
    ok = sorted(data["ok"])
    statuses: Counter[int] = Counter(int(v // 1e6) for v in data["other"])
    errors = 0
    match = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", result.stdout
    )
    if match:
        errors = sum(int(n) for n in match.groups())
    return {
        "connections": connections,
        "seconds": seconds,
        "ok": len(ok),
        "goodput": round(len(ok) / seconds, 1),
        "ok_p50_ms": _ms(_pct(ok, 0.50)),
        "ok_p99_ms": _ms(_pct(ok, 0.99)),
        "non_2xx": sum(statuses.values()),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "socket_errors": errors,
    }


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(len(values) * q))]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


# -- one variant -------------------------------------------------------------------------


class Sampler(threading.Thread):
    """Reads poise's admission stats every SAMPLE_EVERY seconds while a variant runs."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.samples: list[dict[str, Any]] = []
        self.started_at = time.monotonic()
        self._done = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=2, headers=ADMIN_HEADERS) as client:
            while not self._done.wait(SAMPLE_EVERY):
                try:
                    stats = client.get(self.url + "/_poise/api/stats").json()
                except (httpx.HTTPError, ValueError):
                    continue
                admission = stats.get("admission") or {}
                self.samples.append({
                    "t": round(time.monotonic() - self.started_at, 2),
                    "limit": admission.get("limit"),
                    "mode": admission.get("queue_mode"),
                    "in_flight": admission.get("in_flight"),
                    "queued": admission.get("queued"),
                    "shed_total": admission.get("shed_total"),
                    "would_shed_total": admission.get("would_shed_total"),
                    "busy": admission.get("loop_busy"),
                })  # fmt: skip

    def stop(self) -> list[dict[str, Any]]:
        self._done.set()
        self.join()
        return self.samples


def run_variant(app: str, variant: str, extra: tuple[str, ...], seconds: float) -> dict[str, Any]:
    """The four phases against one fresh server process."""
    target = f"{app}_{'bare' if variant.startswith('limit') else variant}"
    with server(target, *extra, module=MODULE) as url:
        sampler = Sampler(url) if variant in ("poised", "observed") else None
        if sampler is not None:
            sampler.start()
        phases = []
        starts = []
        for connections in PHASES:
            starts.append(
                round(time.monotonic() - sampler.started_at, 2) if sampler is not None else 0.0
            )
            phases.append(run_wrk(url, connections, seconds))
        samples = sampler.stop() if sampler is not None else []
        final = None
        if sampler is not None:
            stats = httpx.get(url + "/_poise/api/stats", timeout=5, headers=ADMIN_HEADERS).json()
            final = stats.get("admission")
    return {"phases": phases, "phase_starts": starts, "samples": samples, "final": final}


def limit_recovery(result: dict[str, Any], seconds: float) -> dict[str, Any] | None:
    """The limit's median in the first 50-connection phase, and in the last one from
    2 s after the 200-connection phase ended."""
    samples, starts = result["samples"], result["phase_starts"]
    if not samples:
        return None
    first = [s["limit"] for s in samples if starts[1] <= s["t"] < starts[2] and s["limit"]]
    after = [s["limit"] for s in samples if starts[3] + 2.0 <= s["t"] and s["limit"]]
    at_two = next((s["limit"] for s in samples if s["t"] >= starts[3] + 2.0 and s["limit"]), None)
    if not first or not after or at_two is None:
        return None
    base = statistics.median(first)
    return {
        "first_50_median": base,
        "at_2s_after_200": at_two,
        "last_50_median_from_2s": statistics.median(after),
        "within_25pct": abs(at_two - base) <= 0.25 * base
        and abs(statistics.median(after) - base) <= 0.25 * base,
    }


# -- the benchmark -----------------------------------------------------------------------


def prepare_database() -> None:
    from sqlalchemy import create_engine, text

    sys.path.insert(0, str(ROOT))
    from bench.closed_loop_app import DATABASE_URL, TABLE

    engine = create_engine(DATABASE_URL)
    with engine.begin() as connection:
        connection.execute(text(f"DROP TABLE IF EXISTS {TABLE}"))
        connection.execute(text(
            f"CREATE TABLE {TABLE} (id int PRIMARY KEY, name text, price numeric)"
        ))  # fmt: skip
        connection.execute(text(
            f"INSERT INTO {TABLE} SELECT i, 'item ' || i, i * 1.5 "
            "FROM generate_series(1, 1000) AS i"
        ))  # fmt: skip
    engine.dispose()


@contextlib.contextmanager
def database_beside_the_load() -> Iterator[bool]:
    """Pin the local PostgreSQL server's processes to CPU 1, where wrk runs, and give
    them their old CPUs back afterwards; yields whether it could.

    The server is CPU 0's alone: as the database on another machine in a real
    deployment. Unpinned, the scheduler sometimes puts busy backends on CPU 0, and a
    run then loses a third of its throughput to that, not to the variant under test
    (seen as bare runs swinging by 40 %). Backends forked later inherit the
    postmaster's CPUs. Needs permission to set the processes' affinity (root, or the
    postgres user); without it the bench runs unpinned and says so.
    """
    found = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True)
    pids = [int(pid) for pid in found.stdout.split()]
    saved: dict[int, set[int]] = {}
    if _can_pin():
        for pid in pids:
            try:
                saved[pid] = os.sched_getaffinity(pid)
                os.sched_setaffinity(pid, {1})
            except OSError:
                continue
    pinned = bool(pids) and len(saved) == len(pids)
    if not pinned:
        print("  (PostgreSQL not pinned to CPU 1: it shares the server's CPU)")
    try:
        yield pinned
    finally:
        for pid, cpus in saved.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(pid, cpus)
        for pid in _children_of(saved):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(pid, set(range(os.cpu_count() or 1)))


def _children_of(parents: dict[int, set[int]]) -> list[int]:
    """PostgreSQL processes started while pinned (they inherited CPU 1 only)."""
    found = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split() if int(pid) not in parents]


def best_limit(app: str, seconds: float) -> tuple[int, list[dict[str, Any]]]:
    """uvicorn's --limit-concurrency N with the best total goodput over the phases."""
    tried = []
    for n in LIMIT_CANDIDATES:
        result = run_variant(app, f"limit{n}", ("--limit-concurrency", str(n)), seconds)
        total = sum(p["ok"] for p in result["phases"])
        tried.append({"limit_concurrency": n, "ok_total": total,
                      "goodput": [p["goodput"] for p in result["phases"]]})  # fmt: skip
        print(f"    --limit-concurrency {n}: {[p['goodput'] for p in result['phases']]}")
    best = max(tried, key=lambda t: t["ok_total"])
    return int(best["limit_concurrency"]), tried


def median_of(runs: list[dict[str, Any]], phase: int, key: str) -> float | None:
    values = [r["phases"][phase][key] for r in runs if r["phases"][phase][key] is not None]
    return statistics.median(values) if values else None


def verdicts(cases: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    bare, poise = cases["bare"], cases["poised"]
    out: dict[str, Any] = {"phases": []}
    ok = True
    for index, connections in enumerate(PHASES):
        g_bare = median_of(bare, index, "goodput") or 0.0
        g_poise = median_of(poise, index, "goodput") or 0.0
        p_bare = median_of(bare, index, "ok_p99_ms") or 0.0
        p_poise = median_of(poise, index, "ok_p99_ms") or math_inf()
        ratio = g_poise / g_bare if g_bare else 0.0
        row = {
            "connections": connections,
            "goodput_ratio": round(ratio, 3),
            "goodput_ok": ratio >= 0.95,
            "p99_bound_ms": round(1.1 * p_bare + 2, 2),
            "p99_ok": p_poise <= 1.1 * p_bare + 2,
        }
        ok = ok and row["goodput_ok"] and row["p99_ok"]
        out["phases"].append(row)
    out["zero_503_at_4"] = all(r["phases"][0]["statuses"].get("503", 0) == 0 for r in poise)
    recoveries = [r.get("recovery") for r in poise]
    out["limit_recovered"] = all(rec is not None and rec["within_25pct"] for rec in recoveries)
    out["all_met"] = ok and out["zero_503_at_4"] and out["limit_recovered"]
    return out


def math_inf() -> float:
    return float("inf")


def run_app(app: str, entry: dict[str, Any], only: set[str], args: argparse.Namespace) -> None:
    """The limit search, the interleaved runs, observe mode and the verdicts of one app."""
    if "limit" in only:
        tried: list[dict[str, Any]] = []
        if args.limit:
            n = args.limit
        else:
            n, tried = best_limit(app, min(args.seconds, 5.0))
        entry["limit_concurrency"] = n
        entry["limit_search"] = tried
    variants: list[tuple[str, tuple[str, ...]]] = [("bare", ()), ("poised", ())]
    if "limit" in only:
        n = entry["limit_concurrency"]
        variants.append((f"limit{n}", ("--limit-concurrency", str(n))))
    variants = [v for v in variants if v[0].rstrip("0123456789") in only]
    cases: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in variants}
    for run in range(args.runs):
        order = variants[run % len(variants) :] + variants[: run % len(variants)]
        for name, extra in order:
            result = run_variant(app, name, extra, args.seconds)
            if name == "poised":
                result["recovery"] = limit_recovery(result, args.seconds)
            cases[name].append(result)
            print(f"  run {run + 1} {name:10} " + "  ".join(
                f"c{p['connections']}: {p['goodput']}/s p99 {p['ok_p99_ms']} ms "
                f"non-2xx {p['non_2xx']}" for p in result["phases"]
            ))  # fmt: skip
    observed = run_variant(app, "observed", (), args.seconds)
    print("  observe: final " + json.dumps({
        k: (observed["final"] or {}).get(k)
        for k in ("shed_total", "would_shed_total", "would_shed_reasons", "would_queue_total")
    }))  # fmt: skip
    entry["cases"] = {
        name: [{k: v for k, v in r.items() if k != "samples"} | {"samples": r["samples"]}
               for r in runs]
        for name, runs in cases.items()
    }  # fmt: skip
    entry["observe"] = {
        key: observed[key] for key in ("phases", "final", "samples", "phase_starts")
    }
    if "bare" in cases and "poised" in cases:
        entry["verdicts"] = verdicts(cases)
        print("  verdicts: " + json.dumps(entry["verdicts"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", default=",".join(APPS))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--limit", type=int, help="skip the search: uvicorn's N")
    parser.add_argument("--only", help="variants to run, comma-separated: bare,poised,limit")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--svg", type=Path)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("closed_loop.py needs wrk: apt-get install -y wrk", file=sys.stderr)
        return 2
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} CPU, {platform.platform()}",
        "python": platform.python_version(),
        "seconds_per_phase": args.seconds,
        "phases": list(PHASES),
        "apps": {},
    }
    only = set(args.only.split(",")) if args.only else {"bare", "poised", "limit"}
    for app in args.apps.split(","):
        print(f"== {app}")
        entry: dict[str, Any] = {}
        with contextlib.ExitStack() as stack:
            if app == "syncdb":
                prepare_database()
                entry["database_pinned_to_cpu1"] = stack.enter_context(database_beside_the_load())
            run_app(app, entry, only, args)
        report["apps"][app] = entry
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    if args.svg:
        args.svg.parent.mkdir(parents=True, exist_ok=True)
        args.svg.write_text(svg(report))
    print(table(report))
    return 0


def table(report: dict[str, Any]) -> str:
    lines = []
    for app, entry in report["apps"].items():
        lines += [
            f"\n{app}: median of {len(next(iter(entry['cases'].values())))} runs",
            "| variant | connections | goodput/s | 2xx p50 ms | 2xx p99 ms | non-2xx |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, runs in entry["cases"].items():
            for index, connections in enumerate(PHASES):
                non = statistics.median(r["phases"][index]["non_2xx"] for r in runs)
                lines.append(
                    f"| {name} | {connections} | {median_of(runs, index, 'goodput')} | "
                    f"{median_of(runs, index, 'ok_p50_ms')} | "
                    f"{median_of(runs, index, 'ok_p99_ms')} | {non:g} |"
                )
    return "\n".join(lines)


def svg(report: dict[str, Any]) -> str:
    """poise's limit over time, one panel per app (its first run), phases marked."""
    width, panel, left = 760, 170, 50
    apps = [(app, e) for app, e in report["apps"].items() if e["cases"].get("poised")]
    height = panel * len(apps) + 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             'font-family="sans-serif" font-size="11">']  # fmt: skip
    for row, (app, entry) in enumerate(apps):
        result = entry["cases"]["poised"][0]
        samples, starts = result["samples"], result["phase_starts"]
        if not samples:
            continue
        top = row * panel + 20
        span = max(s["t"] for s in samples) or 1.0
        # The first second is the warm-up (everything admitted, the limit at its
        # maximum): left out of the scale, or it would flatten the rest.
        peak = max(max((s["limit"] or 0 for s in samples if s["t"] >= 1.0), default=1), 1)

        def x(t: float, span: float = span) -> float:
            return left + t / span * (width - left - 10)

        def y(v: float, peak: float = peak, top: float = top) -> float:
            return top + (panel - 40) * (1 - v / peak)

        parts.append(f'<text x="4" y="{top - 6}" font-weight="bold">{app}: '
                     f'admission limit (max {peak})</text>')  # fmt: skip
        for start, connections in zip(starts, PHASES, strict=False):
            parts.append(f'<line x1="{x(start):.1f}" x2="{x(start):.1f}" y1="{top}" '
                         f'y2="{top + panel - 40}" stroke="#ccc"/>')  # fmt: skip
            parts.append(f'<text x="{x(start) + 3:.1f}" y="{top + panel - 28}">'
                         f'{connections} conn</text>')  # fmt: skip
        points = " ".join(f"{x(s['t']):.1f},{y(min(s['limit'] or 0, peak)):.1f}" for s in samples)
        parts.append(f'<polyline fill="none" stroke="#1565c0" stroke-width="1.5" '
                     f'points="{points}"/>')  # fmt: skip
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    sys.exit(main())
