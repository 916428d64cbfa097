"""What poise costs per request in CPU instructions, counted by valgrind (callgrind).

Wall-clock benchmarks on a shared virtual machine swing by tens of percent; an
instruction count does not: the same code, inputs and interpreter give the same count
whatever else the machine is doing. This drives the hello-world app of
``bench/hello.py`` in-process (no server, no sockets: a hand-written ASGI scope) for
N and for N + K requests, bare and with poise, and reports the difference per request.
The server's own work (HTTP parsing, the socket) is not in these numbers, so the
percentage here is an upper bound on what poise costs the whole request.

    python bench/instructions.py            # needs valgrind
    python bench/instructions.py --drive poise 1000   # (what valgrind runs)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.3"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/hello/world",
    "raw_path": b"/hello/world",
    "root_path": "",
    "query_string": b"",
    "headers": [(b"host", b"bench"), (b"user-agent", b"bench")],
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 8000),
}


def drive(variant: str, requests: int) -> None:
    sys.path.insert(0, str(ROOT))
    from bench.hello import bare, poised

    app = poised if variant == "poise" else bare

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    async def run() -> None:
        for _ in range(requests):
            await app(dict(SCOPE), receive, send)

    asyncio.run(run())


def instructions(variant: str, requests: int) -> int:
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, __file__, "--drive", variant, str(requests),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", result.stderr)
    if found is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{result.stderr}")
    return int(found.group(1))


def per_request(variants: list[str], base: int, extra: int) -> dict[str, float]:
    runs = [(v, n) for v in variants for n in (base, base + extra)]
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        counts = dict(zip(runs, pool.map(lambda run: instructions(*run), runs), strict=True))
    return {v: (counts[v, base + extra] - counts[v, base]) / extra for v in variants}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drive", nargs=2, metavar=("VARIANT", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=2000, help="requests counted")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    if args.drive:
        drive(args.drive[0], int(args.drive[1]))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: sudo apt-get install -y valgrind", file=sys.stderr)
        return 2
    warm = 500  # imports, first-request set-up and caches are paid before the count
    counted = per_request(["bare", "poise"], warm, args.requests)
    bare, poise = counted["bare"], counted["poise"]
    added = poise - bare
    print(f"bare FastAPI, in-process: {bare:,.0f} instructions per request")
    print(f"with poise:               {poise:,.0f} instructions per request")
    share = added / bare
    print(f"poise adds {added:,.0f} instructions per request ({share:.1%} of the in-process path)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        result = {"bare": round(bare), "poise": round(poise), "added": round(added)}
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
