"""Health probes under load: fastapi-health against poise's /readyz and its probe port.

Kubernetes gives a probe ``timeoutSeconds`` (1 s by default) to answer; a probe that
times out counts as a failure, and enough of them restart the pod (liveness) or take it
out of the load balancer (readiness). This measures what a probe sees while the app is
overloaded, all in the same run:

1. **Under load.** ``bench/overload_app.py``'s route (~5 ms CPU + ~20 ms awaited I/O)
   gets an open-loop ``--load`` times its capacity C (``--capacity``, else
   ``bench/results/overload.json``, else the 167/s recorded in docs/benchmarks.md).
   Meanwhile a prober sends one probe every 100 ms on a new connection with a 1 s
   timeout, as the kubelet does, to:

   - the bare app's ``/health``, made with fastapi-health (a Redis ``PING`` condition);
   - poise's ``/readyz`` on the app's port, and on the probe port (``probe_port``).

   Reported: probe latency p50/p99/max and how many timed out.

2. **A thousand probes at once**, idle app: how many times each ran its Redis check.

    python bench/probes.py            # needs Redis on 127.0.0.1:6379; about 2 minutes
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.overload import ROOT, _can_pin, _ms, _pct, drive, free_port

PROBE_EVERY = 0.1
PROBE_TIMEOUT = 1.0
RESULTS = ROOT / "bench" / "results" / "probes.json"
# C of bench/overload.py on the 2-vCPU VM of docs/benchmarks.md, when no result is saved.
MEASURED_CAPACITY = 167.0


@contextmanager
def server(app: str, env: dict[str, str] | None = None) -> Iterator[int]:
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", f"bench.probes_app:{app}", "--port", str(port),
        "--no-access-log", "--log-level", "error", "--loop", "uvloop", "--http", "httptools",
        "--backlog", "4096",
    ]  # fmt: skip
    if _can_pin():
        command = ["taskset", "-c", "0", *command]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})})
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/calls", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        else:
            raise RuntimeError(f"{app} did not start")
        yield port
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def probe_once(port: int, path: str) -> float | None:
    """Seconds to a complete answer on a new connection; ``None``: timed out or failed."""
    start = time.perf_counter()  # uvloop's loop.time() ticks in whole milliseconds
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n"
                         .encode())  # fmt: skip
            await reader.read(-1)
            writer.close()
    except (TimeoutError, OSError):
        return None
    return time.perf_counter() - start


async def under_load(port: int, targets: list[tuple[int, str]], rate: float,
                     seconds: float) -> dict[str, Any]:  # fmt: skip
    samples: dict[str, list[float | None]] = {f"{p}{path}": [] for p, path in targets}
    stop = asyncio.Event()

    async def prober(p: int, path: str) -> None:
        while not stop.is_set():
            began = time.monotonic()
            samples[f"{p}{path}"].append(await probe_once(p, path))
            await asyncio.sleep(max(0.0, PROBE_EVERY - (time.monotonic() - began)))

    probers = [asyncio.create_task(prober(p, path)) for p, path in targets]
    load = await drive(f"http://127.0.0.1:{port}", rate, seconds)
    stop.set()
    await asyncio.gather(*probers)
    out = {}
    for key, values in samples.items():
        answered = [v for v in values if v is not None]
        out[key] = {
            "probes": len(values),
            "timed_out": len(values) - len(answered),
            "p50_ms": _ms(_pct(answered, 0.5)),
            "p99_ms": _ms(_pct(answered, 0.99)),
            "max_ms": _ms(max(answered) if answered else None),
        }
    out["load"] = {"sent_per_s": rate, "ok": len(load.ok), "shed_503": len(load.shed),
                   "errors": load.errors}  # fmt: skip
    return out


async def runs(port: int) -> int:
    async with httpx.AsyncClient(timeout=30) as client:
        count: int = (await client.get(f"http://127.0.0.1:{port}/calls")).json()["count"]
        return count


async def burst(port: int, path: str, count: int) -> dict[str, Any]:
    before = await runs(port)

    async def one() -> float | None:
        start = time.perf_counter()
        try:
            async with asyncio.timeout(30):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(f"GET {path} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n"
                             .encode())  # fmt: skip
                await reader.read(-1)
                writer.close()
        except (TimeoutError, OSError):
            return None
        return time.perf_counter() - start

    results = await asyncio.gather(*(one() for _ in range(count)))
    after = await runs(port)
    answered = [r for r in results if r is not None]
    return {"probes": count, "answered": len(answered), "check_runs": after - before,
            "p99_ms": _ms(_pct(answered, 0.99))}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--load", type=float, default=3.0, help="times the capacity C")
    parser.add_argument("--capacity", type=float, help="C in requests/s (default: recorded)")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    capacity = args.capacity
    recorded = ROOT / "bench" / "results" / "overload.json"
    if capacity is None and recorded.exists():
        capacity = json.loads(recorded.read_text())["capacity_per_s"]
    if capacity is None:
        capacity = MEASURED_CAPACITY
    rate = capacity * args.load
    import uvloop

    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} CPU, {platform.platform()}",
        "python": platform.python_version(),
        "capacity_per_s": capacity, "load_x": args.load, "seconds": args.seconds,
        "probe_every_s": PROBE_EVERY, "probe_timeout_s": PROBE_TIMEOUT,
    }  # fmt: skip
    print(f"load: {rate:.0f} requests/s ({args.load:g} x C) for {args.seconds:g} s")
    # The burst first, on the idle app: an overloaded bare app stays busy long after.
    with server("bare") as port:
        report["burst_fastapi_health"] = uvloop.run(burst(port, "/health", 1000))
        report["bare_fastapi_health"] = uvloop.run(
            under_load(port, [(port, "/health")], rate, args.seconds))  # fmt: skip
    probe_port = free_port()
    with server("poised", {"POISE_PROBE_PORT": str(probe_port)}) as port:
        report["burst_poise"] = uvloop.run(burst(port, "/readyz", 1000))
        measured = uvloop.run(under_load(
            port, [(port, "/readyz"), (probe_port, "/readyz")], rate, args.seconds))  # fmt: skip
        report["poise_main_port"] = measured[f"{port}/readyz"]
        report["poise_probe_port"] = measured[f"{probe_port}/readyz"]
        report["poise_load"] = measured["load"]
    bare = report.pop("bare_fastapi_health")
    report["bare_load"] = bare.pop("load")
    report["bare_fastapi_health"] = next(iter(bare.values()))  # its one probe target
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
