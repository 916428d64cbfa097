"""What poise costs a hello-world FastAPI app under uvicorn, measured with wrk.

Both apps are served at once by their own uvicorn process (one worker each, access log
off, pinned to one CPU when ``taskset`` exists); wrk runs from its own process on the
other CPU and alternates between them, A/B/A/B, so drift of the machine hits both
equally. The result is the median over rounds of requests per second and of wrk's
latency percentiles, and the ratio poise / bare.

    python bench/overhead.py                 # 5 rounds of 10 s each
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
VARIANTS = {"bare": "bench.hello:bare", "poise": "bench.hello:poised"}
TARGET_RATIO = 0.97


@dataclass
class Run:
    requests_per_s: float
    latency_s: dict[str, float]


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
    if rps is None:
        raise SystemExit(f"could not read wrk's output:\n{output}")
    latency = {}
    for percentile, value, unit in re.findall(r"^\s+(\d+)%\s+([0-9.]+)(us|ms|s)\s*$", output, re.M):
        latency[f"p{percentile}"] = float(value) * _UNITS[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        raise SystemExit(f"wrk saw {errors.group(1)} error responses:\n{output}")
    return Run(float(rps.group(1)), latency)


def wrk(port: int, seconds: int, connections: int) -> Run:
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
        f"http://127.0.0.1:{port}/hello/world",
    ]  # fmt: skip
    result = subprocess.run(pinned(command, 1), capture_output=True, text=True, check=True)
    return parse_wrk(result.stdout)


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
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
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
            wrk(variant.port, 2, args.connections)
        for round_no in range(1, args.rounds + 1):
            for variant in variants if round_no % 2 else reversed(variants):
                run = wrk(variant.port, args.duration, args.connections)
                variant.runs.append(run)
                print(
                    f"round {round_no} {variant.name:5}: {run.requests_per_s:9.1f} req/s  "
                    f"p50 {run.latency_s['p50'] * 1e3:6.2f} ms  "
                    f"p99 {run.latency_s['p99'] * 1e3:6.2f} ms",
                    flush=True,
                )
    finally:
        for variant in variants:
            if variant.process is not None:
                variant.process.terminate()
                variant.process.wait(10)

    bare, poise = variants
    ratio = poise.median_rps() / bare.median_rps()
    rows = {
        v.name: {
            "median_rps": round(v.median_rps(), 1),
            "p50_ms": round(v.median_latency("p50") * 1e3, 3),
            "p99_ms": round(v.median_latency("p99") * 1e3, 3),
            "rps_runs": [round(run.requests_per_s, 1) for run in v.runs],
        }
        for v in variants
    }
    result = {
        "machine": machine(),
        "settings": {
            "rounds": args.rounds,
            "duration_s": args.duration,
            "connections": args.connections,
        },
        "variants": rows,
        "ratio": round(ratio, 4),
        "target_ratio": TARGET_RATIO,
    }
    print("\n| variant | req/s (median) | p50 | p99 |\n| --- | ---: | ---: | ---: |")
    for name, row in rows.items():
        rps, p50, p99 = row["median_rps"], row["p50_ms"], row["p99_ms"]
        print(f"| {name} | {rps:.0f} | {p50:.2f} ms | {p99:.2f} ms |")
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"\npoise keeps {ratio:.1%} of bare throughput ({verdict} the {TARGET_RATIO:.0%} target)")
    print(json.dumps(result["machine"]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
