"""The demo behind ``make demo``: the example shop under uvicorn, a burst of traffic, poise's view.

It first runs ``poise doctor`` on the shop's code (what can be found without running
it), then starts the fake payment provider and the shop (``burnt`` by default) as real uvicorn
processes on 127.0.0.1, sends a few hundred concurrent requests of a realistic mix,
then prints the per-route table from ``/_poise/api/stats`` and the slowest requests from
``/_poise/api/requests``, and stops both servers.

    python examples/demo.py                    # the burnt shop
    python examples/demo.py --app healthy      # the same service done right
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from poise.doctor.command import run_doctor
from poise.observe.table import incidents_table, routes_table

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 30.0
# The example's blocking calls are kept short (10-30 ms) so that the demo finishes in
# seconds; poise's default threshold (50 ms) would call them lag, not blocks.
DEMO_BLOCK_THRESHOLD = "8ms"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def uvicorn(target: str, port: int, env: dict[str, str], log: Path) -> Iterator[str]:
    """Serve ``target`` on 127.0.0.1:``port`` until the block ends; yields its base URL."""
    command = [
        sys.executable, "-m", "uvicorn", target,
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                raise SystemExit(f"{target} exited with {process.returncode}:\n{log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"{target} did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def workload(requests: int, order_ids: list[int], rng: random.Random) -> list[tuple[str, str]]:
    """A shuffled mix of reads, lookups, reports and health checks."""
    mix: list[tuple[str, str, float]] = [
        ("GET", "/orders/{id}", 0.40),
        ("GET", "/orders?limit=20", 0.15),
        ("GET", "/fx/EUR", 0.15),
        ("GET", "/health", 0.10),
        ("GET", "/reports/orders.csv", 0.08),
        ("GET", "/orders/999999", 0.06),
        ("GET", "/wp-login.php", 0.06),
    ]
    calls = []
    for method, path, share in mix:
        for _ in range(max(1, round(requests * share))):
            calls.append((method, path.replace("{id}", str(rng.choice(order_ids)))))
    rng.shuffle(calls)
    return calls


async def drive(base_url: str, *, orders: int, requests: int, concurrency: int) -> Counter[int]:
    """Place ``orders`` orders, then send about ``requests`` more; counts of statuses."""
    rng = random.Random(42)
    statuses: Counter[int] = Counter()
    limit = asyncio.Semaphore(concurrency)
    timeout = httpx.Timeout(60.0)
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout) as client:

        async def call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
            async with limit:
                response = await client.request(method, path, json=body)
            statuses[response.status_code] += 1
            return response

        placed = await asyncio.gather(
            *(
                call(
                    "POST",
                    "/orders",
                    {
                        "customer": f"customer-{i % 17}",
                        "item": rng.choice(["kettle", "teapot", "mug", "tray"]),
                        "quantity": rng.randint(1, 5),
                        "unit_price_cents": rng.randint(300, 9000),
                    },
                )
                for i in range(orders)
            )
        )
        order_ids = [r.json()["id"] for r in placed if r.status_code == 201] or [1]
        await asyncio.gather(*(call(m, p) for m, p in workload(requests, order_ids, rng)))
    return statuses


def slowest_table(ledgers: list[dict[str, Any]]) -> Table:
    table = Table(title="the slowest recent requests", title_justify="left")
    for name in ("at", "request", "status", "outcome"):
        table.add_column(name)
    for name in ("wall ms", "on loop ms", "stalled ms"):
        table.add_column(name, justify="right")
    table.add_column("stalled by")
    for item in ledgers:
        by = sorted((item.get("stalled_by") or {}).items(), key=lambda kv: -kv[1])
        table.add_row(
            item["at"][11:23],
            f"{item['method']} {item['route']}",
            str(item["status"]),
            item["outcome"],
            f"{item['wall_s'] * 1e3:.1f}",
            f"{item.get('on_loop_s', 0) * 1e3:.1f}",
            f"{item.get('stalled_s', 0) * 1e3:.1f}",
            ", ".join(f"{route} {seconds * 1e3:.0f} ms" for route, seconds in by[:2]),
        )
    return table


def health_table(ready: httpx.Response, health: dict[str, Any]) -> Table:
    """poise's /readyz answer and the /healthz checks, after the load."""
    state = ", ".join(ready.json().get("notes", []))
    table = Table(
        title=f"poise health: /readyz {ready.status_code} ({state}), /healthz {health['status']}",
        title_justify="left",
    )
    for name in ("check", "status", "observed", "output"):
        table.add_column(name)
    for key, entries in health.get("checks", {}).items():
        for entry in entries:
            value = entry.get("observedValue")
            observed = "" if value is None else f"{value} {entry.get('observedUnit', '')}"
            table.add_row(key, entry["status"], observed.strip(), entry.get("output", ""))
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", choices=["burnt", "healthy"], default="burnt")
    parser.add_argument("--orders", type=int, default=60, help="orders placed first")
    parser.add_argument("--requests", type=int, default=300, help="requests after that")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    # Wide enough for route templates when the output is a log file, not a terminal.
    console = Console() if sys.stdout.isatty() else Console(width=130)

    with tempfile.TemporaryDirectory(prefix="poise-demo-") as tmp:
        work = Path(tmp)
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SHOP_SQLITE_PATH": str(work / "shop.sqlite3"),
            "SHOP_REPORT_DIR": str(work / "reports"),
            "POISE_BLOCK_THRESHOLD": os.environ.get("POISE_BLOCK_THRESHOLD", DEMO_BLOCK_THRESHOLD),
        }
        env.pop("DATABASE_URL", None)
        console.print(f"[bold]poise demo[/]: poise doctor examples/shop/{args.app}.py")
        run_doctor(target=f"examples/shop/{args.app}.py", fail_on="never", cwd=ROOT)
        console.print()
        console.print(f"[bold]poise demo[/]: examples/shop/{args.app}.py under uvicorn")
        payments_port = free_port()
        with uvicorn("examples.shop.payments:app", payments_port, env, work / "payments.log"):
            env["PAYMENTS_URL"] = f"http://127.0.0.1:{payments_port}"
            shop_log = work / "shop.log"
            # The admin data, read the way an operator on the host reads it: through
            # the admin port (docs/security.md).
            admin_port = free_port()
            env["POISE_ADMIN_PORT"] = str(admin_port)
            admin = f"http://127.0.0.1:{admin_port}"
            with uvicorn(f"examples.shop.{args.app}:app", free_port(), env, shop_log) as url:
                console.print(
                    f"sending {args.orders} orders, then ~{args.requests} requests, "
                    f"{args.concurrency} at a time, to {url} ..."
                )
                started = time.perf_counter()
                statuses = asyncio.run(
                    drive(
                        url,
                        orders=args.orders,
                        requests=args.requests,
                        concurrency=args.concurrency,
                    )
                )
                elapsed = time.perf_counter() - started
                stats = httpx.get(f"{admin}/_poise/api/stats").json()
                ready = httpx.get(f"{url}/readyz")
                health = httpx.get(f"{admin}/healthz").json()  # the admin port: in full
                slowest = httpx.get(f"{admin}/_poise/api/requests", params={"slowest": 5}).json()

        total = sum(statuses.values())
        summary = ", ".join(f"{n}x {code}" for code, n in sorted(statuses.items()))
        console.print(
            f"{total} requests in {elapsed:.1f} s ({total / elapsed:.0f} req/s): {summary}"
        )
        console.print(routes_table(stats, title=f"poise: per-route latency of the {args.app} shop"))
        console.print(slowest_table(slowest["requests"]))
        console.print(incidents_table(stats))
        console.print(health_table(ready, health))
        if args.app == "burnt":
            console.print(
                "Every route is slow, not just the ones with the blocking calls: they all "
                "share one event loop, and [bold]stalled ms[/] is the time each waited for "
                "the blocks above. Compare: [bold]python examples/demo.py --app healthy[/]"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
