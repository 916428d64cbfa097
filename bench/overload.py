"""Overload: goodput and latency of the bare app, uvicorn --limit-concurrency, and poise.

    .venv/bin/python bench/overload.py --json bench/results/overload.json \
        --svg docs/img/overload.svg

The app (``bench/overload_app.py``) spends ~5 ms of CPU and ~20 ms awaiting per
request, under one uvicorn worker pinned to CPU 0. The load comes from this process,
pinned to CPU 1. It is an **open-loop** generator: requests are sent at a constant
rate whether or not earlier ones have answered, and each latency is measured from the
request's *intended* send time. So a stalled server shows as latency, not as a lower
send rate (no coordinated omission).

The benchmark runs in this order:

1. **Unloaded p99**, at 10 % of a rough capacity. The SLO is twice that.
2. **Capacity C:** the highest rate (in steps) at which the bare app keeps its p99
   within the SLO.
3. **The N for ``--limit-concurrency``:** tried on a short run at 3x C, keeping the
   best goodput.
4. **Each variant, in the same run:** 1x, 3x and 10x C for ``--seconds`` each, then 1x
   again to see recovery. The four phases run back to back on one pool of keep-alive
   connections, as a load balancer's would be, so a phase begins with the connections
   the one before it opened rather than with a storm of new ones.
5. **poise with a downstream latency step**, 20 ms to 60 ms mid-run. The admission
   limit is sampled every 250 ms.

Per case it reports:

- goodput: 2xx responses within the SLO, per second;
- p50 and p99 of the 2xx;
- the number of 503s and their p99;
- errors: connection failures, timeouts, other statuses, and requests the generator
  could not send because it was at its connection cap.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
MAX_CONNECTIONS = 1024
REQUEST_TIMEOUT = 10.0
# Idle keep-alive connections are not reused after this long: under uvicorn's 5 s.
KEEPALIVE_EXPIRY = 4.0
REQUEST = b"GET /work HTTP/1.1\r\nHost: bench\r\n\r\n"


# -- the server ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: The admin token the bench's servers get, and the header that reads their stats.
BENCH_TOKEN = "poise-bench-admin-token"
ADMIN_HEADERS = {"Authorization": f"Bearer {BENCH_TOKEN}"}


@contextlib.contextmanager
def server(
    app: str,
    *extra: str,
    env: dict[str, str] | None = None,
    module: str = "bench.overload_app",
    path: str = "/work",
) -> Iterator[str]:
    """A uvicorn process serving ``<module>:<app>`` on CPU 0, once ``path`` answers 200."""
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", f"{module}:{app}", "--port", str(port),
        "--no-access-log", "--log-level", "error", "--loop", "uvloop", "--http", "httptools",
        "--backlog", "4096", *extra,
    ]  # fmt: skip
    if _can_pin():
        command = ["taskset", "-c", "0", *command]
    environment = {**os.environ, "POISE_ADMIN_TOKEN": BENCH_TOKEN, **(env or {})}
    process = subprocess.Popen(command, cwd=ROOT, env=environment)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(url + path, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        else:
            raise RuntimeError(f"{app} did not start")
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _can_pin() -> bool:
    return (os.cpu_count() or 1) >= 2 and subprocess.run(
        ["which", "taskset"], capture_output=True, check=False
    ).returncode == 0


# -- the open-loop generator -------------------------------------------------------------


@dataclass
class Result:
    """What one run at one rate produced."""

    rate: float
    seconds: float
    ok: list[float] = field(default_factory=list)  # latency of each 2xx
    ok_at: list[float] = field(default_factory=list)  # intended send time of each 2xx
    shed: list[float] = field(default_factory=list)  # latency of each 503
    errors: int = 0
    saturated: int = 0

    def goodput(self, slo: float) -> float:
        return sum(1 for v in self.ok if v <= slo) / self.seconds

    def summary(self, slo: float) -> dict[str, Any]:
        return {
            "rate": round(self.rate, 1),
            "seconds": self.seconds,
            "goodput": round(self.goodput(slo), 1),
            "ok": len(self.ok),
            "ok_p50_ms": _ms(_pct(self.ok, 0.50)),
            "ok_p99_ms": _ms(_pct(self.ok, 0.99)),
            "shed_503": len(self.shed),
            "shed_p99_ms": _ms(_pct(self.shed, 0.99)),
            "errors": self.errors,
            "not_sent_connection_cap": self.saturated,
        }

    def per_second(self, slo: float) -> list[tuple[float, float]]:
        """(goodput, p99 of 2xx in ms) for each second of the run."""
        out = []
        for second in range(int(self.seconds)):
            inside = [v for v, at in zip(self.ok, self.ok_at, strict=True)
                      if second <= at < second + 1]  # fmt: skip
            out.append((sum(1 for v in inside if v <= slo), _ms(_pct(inside, 0.99)) or 0.0))
        return out


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


class Pool:
    """Keep-alive HTTP/1.1 connections, opened on demand up to a cap.

    As a real client's pool (httpx's ``keepalive_expiry``, nginx's upstream
    ``keepalive_timeout``), it does not reuse a connection the server has closed or is
    about to close: uvicorn closes a keep-alive connection idle for 5 s
    (``--timeout-keep-alive``). Reusing those, the generator lost every request it sent
    on one, and the server saw its arrivals fall whenever a burst of held requests made
    the generator reach deep into its idle connections (bench results before
    2026-12-07 23:40 count those as errors).
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        # (reader, writer, idle since); the most recently used last.
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self.open = 0

    async def get(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        now = time.monotonic()
        while self.idle:
            reader, writer, since = self.idle.pop()
            if reader.at_eof() or writer.is_closing() or now - since >= KEEPALIVE_EXPIRY:
                self.drop((reader, writer))
                continue
            return reader, writer
        if self.open >= MAX_CONNECTIONS:
            return None
        self.open += 1
        try:
            return await asyncio.open_connection(self.host, self.port)
        except OSError:
            self.open -= 1
            raise

    def put(self, connection: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.idle.append((*connection, time.monotonic()))

    def drop(self, connection: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.open -= 1
        connection[1].close()

    def close(self) -> None:
        for _, writer, _since in self.idle:
            writer.close()
        self.idle.clear()


async def _one(pool: Pool) -> int:
    connection = await pool.get()
    if connection is None:
        return -1
    reader, writer = connection
    try:
        writer.write(REQUEST)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        close = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if length:
            await reader.readexactly(length)
    except BaseException:
        pool.drop(connection)
        raise
    if close:
        pool.drop(connection)
    else:
        pool.put(connection)
    return status


async def drive(
    url: str,
    rate: float,
    seconds: float,
    pool: Pool | None = None,
    pending: set[asyncio.Task[None]] | None = None,
) -> Result:
    """Send ``rate`` requests per second for ``seconds``, open loop, on ``pool``'s
    connections (a new pool, closed at the end, if none is given). With ``pending``, it
    returns once the last request is sent, leaving the ones still unanswered there (the
    next phase starts at once, as a real load does not pause; their latencies still
    count in this phase's result); without, it waits for them."""
    own = pool is None
    if pool is None:
        host, port = url.removeprefix("http://").split(":")
        pool = Pool(host, int(port))
    result = Result(rate, seconds)
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    total = int(rate * seconds)
    tasks: set[asyncio.Task[None]] = set()

    async def request(intended: float) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                status = await _one(pool)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            result.errors += 1
            return
        latency = loop.time() - intended
        if status == -1:
            result.saturated += 1
        elif 200 <= status < 300:
            result.ok.append(latency)
            result.ok_at.append(intended - start)
        elif status == 503:
            result.shed.append(latency)
        else:
            result.errors += 1

    for i in range(total):
        intended = start + i / rate
        delay = intended - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(request(intended))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if pending is not None:
        pending.update(tasks)
        for task in tasks:
            task.add_done_callback(pending.discard)
    elif tasks:
        await asyncio.wait(tasks)
    if own:
        pool.close()
    return result


def run(url: str, rate: float, seconds: float) -> Result:
    import uvloop

    return uvloop.run(drive(url, rate, seconds))


def run_phases(url: str, phases: list[tuple[float, float]]) -> list[Result]:
    """Each ``(rate, seconds)`` in turn on one set of keep-alive connections, as a
    client with a connection pool (a load balancer) would send them: a phase starts
    with the connections the one before it left open, not with a connection storm, and
    at once, without waiting for the last phase's unanswered requests (a pause between
    phases would let a server drain its backlog and start each surge from rest)."""
    import uvloop

    async def drive_all() -> list[Result]:
        host, port = url.removeprefix("http://").split(":")
        pool = Pool(host, int(port))
        pending: set[asyncio.Task[None]] = set()
        try:
            results = [await drive(url, rate, seconds, pool, pending) for rate, seconds in phases]
            if pending:
                await asyncio.wait(set(pending))
            return results
        finally:
            pool.close()

    return uvloop.run(drive_all())


# -- the benchmark ---------------------------------------------------------------------------


def capacity(url: str, slo: float, start: float, seconds: float) -> tuple[float, list[Any]]:
    """The highest rate (10 % steps) with p99 within the SLO and nearly all answered."""
    tried = []
    best = 0.0
    rate = start
    while True:
        result = run(url, rate, seconds)
        p99 = _pct(result.ok, 0.99) or math.inf
        good = p99 <= slo and len(result.ok) >= 0.99 * rate * seconds
        tried.append({"rate": round(rate, 1), "ok_p99_ms": _ms(p99), "within_slo": good})
        print(
            f"  capacity search: {rate:7.1f}/s p99 {p99 * 1000:8.1f} ms {'ok' if good else 'over'}"
        )
        if not good:
            return best, tried
        best = rate
        rate *= 1.1


def limit_stats(url: str) -> dict[str, Any] | None:
    try:
        stats = httpx.get(url + "/_poise/api/stats", timeout=2, headers=ADMIN_HEADERS).json()
        return stats.get("admission")  # type: ignore[no-any-return]
    except (httpx.HTTPError, ValueError):
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--svg", type=Path)
    parser.add_argument(
        "--capacity",
        type=float,
        help="skip the search: C and SLO (ms)",
        nargs=2,
        metavar=("C", "SLO_MS"),
    )
    parser.add_argument("--only", help="run only this variant: bare, limit, poise")
    args = parser.parse_args()
    if _can_pin():
        os.sched_setaffinity(0, {1})
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} CPU, {platform.platform()}",
        "python": platform.python_version(),
        "seconds_per_phase": args.seconds,
    }

    if args.capacity:
        cap, slo = args.capacity[0], args.capacity[1] / 1000
        p99, tried = slo / 2, []
    else:
        with server("bare") as url:
            unloaded = run(url, 10, 10)
            p99 = _pct(unloaded.ok, 0.99) or 0.05
            slo = 2 * p99
            print(f"unloaded p99 {p99 * 1000:.1f} ms -> SLO {slo * 1000:.1f} ms")
            cap, tried = capacity(url, slo, start=40, seconds=8)
    report |= {"unloaded_p99_ms": _ms(p99), "slo_ms": _ms(slo), "capacity": cap,
               "capacity_search": tried}  # fmt: skip
    print(f"capacity C = {cap:.1f} req/s")

    best_n, best_goodput, n_tried = 8, -1.0, []
    for n in () if args.only else (2, 4, 8, 16, 32):
        with server("bare", "--limit-concurrency", str(n)) as url:
            result = run(url, 3 * cap, 8)
        goodput = result.goodput(slo)
        n_tried.append({"limit_concurrency": n, "goodput_at_3x": round(goodput, 1)})
        print(f"  --limit-concurrency {n}: goodput at 3x {goodput:.1f}/s")
        if goodput > best_goodput:
            best_n, best_goodput = n, goodput
    report["limit_concurrency_search"] = n_tried
    report["limit_concurrency"] = best_n

    variants = {
        "bare": ("bare", ()),
        f"uvicorn --limit-concurrency {best_n}": ("bare", ("--limit-concurrency", str(best_n))),
        "poise": ("poised", ()),
    }
    cases: dict[str, dict[str, Any]] = {}
    timelines: dict[str, list[tuple[float, float]]] = {}
    for name, (app, extra) in variants.items():
        if args.only and not name.startswith({"limit": "uvicorn"}.get(args.only, args.only)):
            continue
        cases[name] = {}
        with server(app, *extra) as url:
            timeline: list[tuple[float, float]] = []
            labels = (("1x", 1), ("3x", 3), ("10x", 10), ("back to 1x", 1))
            results = run_phases(url, [(factor * cap, args.seconds) for _, factor in labels])
            for (label, _factor), result in zip(labels, results, strict=True):
                cases[name][label] = result.summary(slo)
                if label == "back to 1x":
                    per = result.per_second(slo)
                    cases[name][label]["seconds_to_full_goodput"] = next(
                        (i for i, (good, _) in enumerate(per) if good >= 0.95 * cap), None
                    )
                per_second = result.per_second(slo)
                cases[name][label]["per_second"] = [
                    {"goodput": good, "ok_p99_ms": p99} for good, p99 in per_second
                ]
                timeline.extend(per_second)
                summary = {k: v for k, v in cases[name][label].items() if k != "per_second"}
                print(f"  {name:32} {label:10} {json.dumps(summary)}")
            timelines[name] = timeline
    report["cases"] = cases

    # The downstream latency step, poise only: 20 ms -> 60 ms, 10 s into a 25 s run at 1x.
    step_at = time.time() + 10.05
    samples: list[dict[str, Any]] = []
    with server("poised", env={"BENCH_STEP_AT": str(step_at)}) as url:
        import threading

        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                stats = limit_stats(url)
                if stats is not None:
                    samples.append({"t": round(time.time() - step_at, 2), "limit": stats["limit"],
                                    "short_ms": _ms(stats["latency_short_s"]),
                                    "long_ms": _ms(stats["latency_long_s"])})  # fmt: skip
                time.sleep(0.25)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        step = run(url, cap, 25)
        done.set()
        sampler.join()
    served = [0] * 25
    for at in step.ok_at:
        if 0 <= at < 25:
            served[int(at)] += 1
    report["latency_step"] = {
        "summary": step.summary(slo),
        "served_per_second": served,
        "limit_samples": samples,
        "adapted_within_s": _adapted(served, cap, step_second=10),
    }
    print(f"latency step: limit adapted within {report['latency_step']['adapted_within_s']} s")

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if args.svg:
        args.svg.parent.mkdir(parents=True, exist_ok=True)
        args.svg.write_text(svg(timelines, slo, args.seconds))
    print(table(report))
    return 0


def _adapted(served: list[int], rate: float, step_second: int) -> int | None:
    """Seconds after the step until every later second serves >= 90 % of the load."""
    for second in range(step_second, len(served)):
        if all(n >= 0.9 * rate for n in served[second:]):
            return second - step_second
    return None


def table(report: dict[str, Any]) -> str:
    lines = [
        f"C = {report['capacity']:.0f} req/s, SLO = {report['slo_ms']} ms",
        "| case | load | goodput/s | 2xx p50 ms | 2xx p99 ms | 503s | 503 p99 ms | errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, phases in report["cases"].items():
        for label, row in phases.items():
            lines.append(
                f"| {name} | {label} | {row['goodput']} | {row['ok_p50_ms']} | "
                f"{row['ok_p99_ms']} | {row['shed_503']} | {row['shed_p99_ms']} | "
                f"{row['errors'] + row['not_sent_connection_cap']} |"
            )
    return "\n".join(lines)


def svg(timelines: dict[str, list[tuple[float, float]]], slo: float, seconds: float) -> str:
    """p99 of 2xx per second over the whole run, log scale, one line per variant."""
    width, height, left, bottom = 760, 300, 60, 30
    colours = ["#c62828", "#ef8f00", "#1565c0"]
    longest = max(len(t) for t in timelines.values())
    top_ms = 10_000.0
    low_ms = 10.0

    def y(ms: float) -> float:
        ms = min(max(ms, low_ms), top_ms)
        span = math.log10(top_ms) - math.log10(low_ms)
        return (
            height - bottom - (math.log10(ms) - math.log10(low_ms)) / span * (height - bottom - 10)
        )

    def x(i: int) -> float:
        return left + i / max(1, longest - 1) * (width - left - 10)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 40}" '
             'font-family="sans-serif" font-size="11">']  # fmt: skip
    for ms in (10, 100, 1000, 10000):
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y(ms):.1f}" y2="{y(ms):.1f}" '
                     'stroke="#ddd"/>')  # fmt: skip
        parts.append(f'<text x="4" y="{y(ms) + 4:.1f}">{ms} ms</text>')
    parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y(slo * 1000):.1f}" '
                 f'y2="{y(slo * 1000):.1f}" stroke="#2e7d32" stroke-dasharray="4"/>')  # fmt: skip
    for i, label in enumerate(("1x", "3x", "10x", "back to 1x")):
        parts.append(f'<text x="{x(int(i * seconds)):.1f}" y="{height - 10}">{label}</text>')
    for colour, timeline in zip(colours, timelines.values(), strict=False):
        points = " ".join(f"{x(i):.1f},{y(p99):.1f}" for i, (_, p99) in enumerate(timeline) if p99)
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/>'
        )
    for i, (colour, name) in enumerate(zip(colours, timelines, strict=False)):
        parts.append(f'<text x="{left + i * 230}" y="{height + 25}" fill="{colour}">{name}</text>')
    parts.append(f'<text x="{width - 170}" y="{y(slo * 1000) - 4:.1f}" fill="#2e7d32">'
                 "SLO (2x unloaded p99)</text></svg>")  # fmt: skip
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    sys.exit(main())
