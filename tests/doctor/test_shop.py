"""``poise doctor`` on the example shop: every marked pitfall found, the healthy one clean."""

from __future__ import annotations

import re
from pathlib import Path

from poise.doctor.run import diagnose

REPO = Path(__file__).parents[2]
SHOP = REPO / "examples" / "shop"
PITFALL = re.compile(r"#\s*PITFALL:\s*([\w-]+)")


def marked_lines() -> dict[int, list[str]]:
    """Line of the statement each ``# PITFALL:`` comment marks -> the pitfall kinds."""
    lines = (SHOP / "burnt.py").read_text(encoding="utf-8").splitlines()
    marked: dict[int, list[str]] = {}
    pending: list[str] = []
    for number, text in enumerate(lines, start=1):
        match = PITFALL.search(text)
        if match:
            pending.append(match[1])
        elif pending and text.strip() and not text.strip().startswith("#"):
            marked[number] = pending
            pending = []
    return marked


def test_burnt_every_marked_pitfall_is_found() -> None:
    report = diagnose("examples/shop/burnt.py", cwd=REPO, cache_dir=None)
    burnt = "examples/shop/burnt.py"
    marked = marked_lines()
    assert len(marked) == 8
    reported: dict[int, set[str]] = {}
    for finding in report.findings:
        lines = {finding.line} if finding.file == burnt else set()
        lines |= {link.line for link in finding.chain if link.file == burnt}
        for line in lines & marked.keys():
            reported.setdefault(line, set()).add(finding.rule)
    kinds_to_rules = {
        "sync-http-in-async": "PSE101", "no-timeout": "PSE105", "sleep-in-async": "PSE101",
        "sync-file-io-in-async": "PSE102", "client-per-request": "PSE104",
        "cpu-on-loop": "PSE103", "blocking-background-task": "PSE101",
        "oversized-pool": "PSE110",
    }  # fmt: skip
    for line, kinds in marked.items():
        wanted = {kinds_to_rules[kind] for kind in kinds}
        assert wanted <= reported.get(line, set()), (line, kinds, reported.get(line))


def test_healthy_has_no_error_or_warning() -> None:
    report = diagnose("examples/shop/healthy.py", cwd=REPO, cache_dir=None)
    serious = [f for f in report.findings if f.severity != "info"]
    assert serious == []
    assert len(report.routes) == 6
