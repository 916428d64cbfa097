"""What poise costs per request in CPU instructions, counted by valgrind (callgrind).

Wall-clock benchmarks on a shared virtual machine swing by tens of percent; an
instruction count does not: the same code, inputs and interpreter give the same count
whatever else the machine is doing. This serves the hello-world apps of
``bench/hello.py`` with a real uvicorn (one worker, access log off) under callgrind,
sends N and then N + K requests over one keep-alive connection
(``--limit-max-requests`` makes uvicorn exit cleanly after them), and reports the
difference per request, bare and with poise.

These are user-space instructions of the server process: the kernel's share of each
request (socket reads and writes, epoll) is not counted, so the percentage here is an
upper bound on what poise adds to the server's CPU time per request.

    python bench/instructions.py            # needs valgrind; about two minutes
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {
    "bare": "bench.hello:bare",
    "poise-ledger": "bench.hello:poised_ledger_only",
    "poise-no-loop": "bench.hello:poised_no_loop",
    "poise": "bench.hello:poised",
}
START_TIMEOUT = 300.0  # uvicorn's start-up under valgrind is slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def instructions(target: str, requests: int, path: str = "/hello/world") -> int:
    """User-space instructions a uvicorn process runs to start, serve ``requests``, stop."""
    port = free_port()
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, "-m", "uvicorn", target, "--port", str(port), "--workers", "1",
        "--no-access-log", "--log-level", "warning", "--limit-max-requests", str(requests),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("POISE_")}
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                output = server.communicate()[0]
                raise SystemExit(f"uvicorn under valgrind did not start:\n{output}") from None
            time.sleep(0.5)
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for _ in range(requests):
        client.request("GET", path)
        response = client.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"{target} answered {response.status}")
    client.close()
    output, _ = server.communicate(timeout=300)
    found = re.search(r"Collected : (\d+)", output)
    if found is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{output}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests counted")
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument(
        "--sync", action="store_true",
        help="request the def route (/sync/world, run in the thread pool) instead",
    )  # fmt: skip
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: sudo apt-get install -y valgrind", file=sys.stderr)
        return 2
    warm = 300  # imports, first-request set-up and caches are paid before the count
    runs = [(name, n) for name in TARGETS for n in (warm, warm + args.requests)]
    path = "/sync/world" if args.sync else "/hello/world"
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        counts = list(pool.map(lambda run: instructions(TARGETS[run[0]], run[1], path), runs))
    by_run = dict(zip(runs, counts, strict=True))
    per_request = {
        name: (by_run[name, warm + args.requests] - by_run[name, warm]) / args.requests
        for name in TARGETS
    }
    bare = per_request["bare"]
    print(f"GET {path}")
    print(f"{'bare FastAPI':14} {bare:9,.0f} instructions per request")
    for name, count in per_request.items():
        if name != "bare":
            added = count - bare
            print(f"{name:14} {count:9,.0f}  (+{added:,.0f}, {added / bare:+.1%})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        result = {name: round(count) for name, count in per_request.items()}
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
