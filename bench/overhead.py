"""What poise costs a hello-world FastAPI app under uvicorn, measured with wrk.

Three apps are served at once, each by its own uvicorn process (one worker, access log
off, pinned to one CPU when ``taskset`` exists): bare, poise with the loop monitor off,
and poise as installed by default. wrk runs from its own process on the other CPU and
goes through them in turn, reversing the order every round, so drift of the machine
hits all of them alike. Each round gives a throughput ratio against bare from runs
next to each other; the result is the median of those ratios, with wrk's latency
percentiles.

Throughput on a shared virtual machine swings by tens of percent from one run to the
next (other tenants, CPU steal), far more than the few percent being measured. So the
benchmark also reads the CPU time each server process spent (``/proc/<pid>/stat``)
and divides it by the requests it served: CPU microseconds per request do not count
time the process was not running, and are the steadier measure of poise's cost.

    python bench/overhead.py                 # 12 rounds of 5 s each
    python bench/overhead.py --rounds 2 --duration 3 --json out.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "bare": "bench.hello:bare",
    "poise-no-loop": "bench.hello:poised_no_loop",
    "poise": "bench.hello:poised",
}
# All of poise so far (issue 3): >= 95% of bare throughput, <= 1 ms more at p99.
TARGET_RATIO = 0.95
TARGET_P99_ADDED_MS = 1.0


@dataclass
class Run:
    requests_per_s: float
    requests: int
    latency_s: dict[str, float]
    cpu_s: float = 0.0

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_s / self.requests * 1e6


@dataclass
class Variant:
    name: str
    target: str
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    runs: list[Run] = field(default_factory=list)

    def median_rps(self) -> float:
        return statistics.median(run.requests_per_s for run in self.runs)

    def median_latency(self, percentile: str) -> float:
        return statistics.median(run.latency_s[percentile] for run in self.runs)

    def median_cpu_us(self) -> float:
        return statistics.median(run.cpu_us_per_request for run in self.runs)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pinned(command: list[str], cpu: int) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", str(cpu), *command]
    return command


def start(variant: Variant) -> None:
    variant.port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", variant.target,
        "--host", "127.0.0.1", "--port", str(variant.port),
        "--workers", "1", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("POISE_")}
    variant.process = subprocess.Popen(pinned(command, 0), cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", variant.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{variant.name}: uvicorn did not start on port {variant.port}")


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def parse_wrk(output: str) -> Run:
    rps = re.search(r"Requests/sec:\s+([0-9.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if rps is None or total is None:
        raise SystemExit(f"could not read wrk's output:\n{output}")
    latency = {}
    for percentile, value, unit in re.findall(r"^\s+(\d+)%\s+([0-9.]+)(us|ms|s)\s*$", output, re.M):
        latency[f"p{percentile}"] = float(value) * _UNITS[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        raise SystemExit(f"wrk saw {errors.group(1)} error responses:\n{output}")
    return Run(float(rps.group(1)), int(total.group(1)), latency)


def wrk(variant: Variant, seconds: int, connections: int) -> Run:
    assert variant.process is not None
    before = cpu_seconds(variant.process.pid)
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
        f"http://127.0.0.1:{variant.port}/hello/world",
    ]  # fmt: skip
    result = subprocess.run(pinned(command, 1), capture_output=True, text=True, check=True)
    run = parse_wrk(result.stdout)
    run.cpu_s = cpu_seconds(variant.process.pid) - before
    return run


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        if found:
            cpu = found.group(1).strip()
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "uvicorn": version("uvicorn"),
        "fastapi": version("fastapi"),
        "starlette": version("starlette"),
        "poise": version("poise"),
        "loop": "uvloop" if _has("uvloop") else "asyncio",
        "http": "httptools" if _has("httptools") else "h11",
    }


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: sudo apt-get install -y wrk", file=sys.stderr)
        return 2

    variants = [Variant(name, target) for name, target in VARIANTS.items()]
    try:
        for variant in variants:
            start(variant)
        for variant in variants:  # warm-up, not recorded
            wrk(variant, 2, args.connections)
        for round_no in range(1, args.rounds + 1):
            for variant in variants if round_no % 2 else reversed(variants):
                run = wrk(variant, args.duration, args.connections)
                variant.runs.append(run)
                print(
                    f"round {round_no:2} {variant.name:5}: {run.requests_per_s:9.1f} req/s  "
                    f"p50 {run.latency_s['p50'] * 1e3:6.2f} ms  "
                    f"p99 {run.latency_s['p99'] * 1e3:6.2f} ms  "
                    f"cpu {run.cpu_us_per_request:6.1f} us/req",
                    flush=True,
                )
    finally:
        for variant in variants:
            if variant.process is not None:
                variant.process.terminate()
                variant.process.wait(10)

    bare, *others = variants
    rows = {
        v.name: {
            "median_rps": round(v.median_rps(), 1),
            "p50_ms": round(v.median_latency("p50") * 1e3, 3),
            "p99_ms": round(v.median_latency("p99") * 1e3, 3),
            "cpu_us_per_request": round(v.median_cpu_us(), 2),
            "rps_runs": [round(run.requests_per_s, 1) for run in v.runs],
        }
        for v in variants
    }
    comparisons = {v.name: compare(v, bare) for v in others}
    result = {
        "machine": machine(),
        "settings": {
            "rounds": args.rounds,
            "duration_s": args.duration,
            "connections": args.connections,
        },
        "variants": rows,
        "versus_bare": comparisons,
        "targets": {"ratio": TARGET_RATIO, "p99_added_ms": TARGET_P99_ADDED_MS},
    }
    print("\n| variant | req/s (median) | p50 | p99 | CPU per request |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, row in rows.items():
        rps, p50, p99 = row["median_rps"], row["p50_ms"], row["p99_ms"]
        cpu = row["cpu_us_per_request"]
        print(f"| {name} | {rps:.0f} | {p50:.2f} ms | {p99:.2f} ms | {cpu:.1f} us |")
    print()
    for name, c in comparisons.items():
        low, high = c["ratio_quartiles"]
        verdict = "meets" if c["ratio"] >= TARGET_RATIO else "MISSES"
        print(
            f"{name}: keeps {c['ratio']:.1%} of bare throughput (median of paired runs, "
            f"quartiles {low:.1%} .. {high:.1%}; {verdict} the {TARGET_RATIO:.0%} target), "
            f"{c['cpu_ratio']:.1%} of its CPU, +{c['cpu_added_us']:.1f} us CPU per request, "
            f"p99 {c['p99_added_ms']:+.2f} ms"
        )
    print(json.dumps(result["machine"]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def compare(variant: Variant, bare: Variant) -> dict[str, Any]:
    """``variant`` against ``bare``, run by run (each pair ran back to back)."""
    pairs = list(zip(variant.runs, bare.runs, strict=True))
    ratios = [v.requests_per_s / b.requests_per_s for v, b in pairs]
    p99_added = [(v.latency_s["p99"] - b.latency_s["p99"]) * 1e3 for v, b in pairs]
    cpu_added = [v.cpu_us_per_request - b.cpu_us_per_request for v, b in pairs]
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    return {
        "ratio": round(statistics.median(ratios), 4),
        "ratio_quartiles": [round(quartiles[0], 4), round(quartiles[2], 4)],
        "cpu_ratio": round(bare.median_cpu_us() / variant.median_cpu_us(), 4),
        "cpu_added_us": round(statistics.median(cpu_added), 2),
        "p99_added_ms": round(statistics.median(p99_added), 3),
    }


if __name__ == "__main__":
    sys.exit(main())
