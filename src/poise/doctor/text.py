"""``--format text``: findings grouped by entry point, with chains, fixes and a summary."""

from __future__ import annotations

from collections import defaultdict
from pathlib import PurePosixPath
from typing import Final

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from poise.doctor.model import Finding, Incident, Report

__all__ = ["print_text", "render_chain", "summarize_incidents"]

_STYLE: Final = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def render_chain(finding: Finding) -> str:
    """``GET /x -> handler (app.py:10) -> helper (app.py:14) -> requests.get (svc.py:7)``."""
    parts = [finding.entry]
    for link in finding.chain:
        name = link.function.rsplit(":", 1)[-1]
        parts.append(f"{name} ({PurePosixPath(link.file).name}:{link.line})")
    if finding.sink is not None:
        parts.append(f"{finding.sink} ({PurePosixPath(finding.file).name}:{finding.line})")
    return " -> ".join(parts)


def print_text(report: Report, console: Console, *, show_info: bool = True) -> None:
    """Print ``report`` for people: grouped by entry point, worst first."""
    header = Text.assemble(
        ("poise doctor ", "bold"), report.target,
        f"  ({report.files} files, {report.lines:,} lines, {len(report.routes)} routes)",
    )  # fmt: skip
    console.print(header)
    groups: dict[str, list[Finding]] = defaultdict(list)
    for finding in report.findings:
        if show_info or finding.severity != "info":
            groups[finding.entry].append(finding)
    for entry in sorted(groups, key=lambda e: (min(f.sort_key for f in groups[e]), e)):
        console.print()
        console.print(Text(entry, style="bold underline"))
        for finding in groups[entry]:
            confirmed = " [bold magenta](confirmed by the probe)[/]" if finding.confirmed else ""
            console.print(
                f"  [{_STYLE[finding.severity]}]{finding.severity:<7}[/] "
                f"[bold]{finding.rule}[/] {escape(finding.message)}{confirmed}",
                highlight=False,
            )
            console.print(f"          {finding.file}:{finding.line}:{finding.col}",
                          highlight=False, style="dim")  # fmt: skip
            console.print(f"          {escape(render_chain(finding))}", highlight=False)
            console.print(f"          fix: {escape(finding.fix)}", highlight=False, style="green")
    jumps = [r for r in report.routes if r.thread_jumps]
    if jumps and show_info:
        console.print()
        console.print(Text("Thread-pool jumps per request (PSE108)", style="bold"))
        for route in sorted(jumps, key=lambda r: (-r.thread_jumps, r.name)):
            console.print(f"  {route.name}: {route.thread_jumps}", highlight=False)
    if report.probe is not None:
        _print_probe(report, console)
    for note in report.notes:
        console.print(f"[dim]note: {escape(note)}[/]", highlight=False)
    counts = report.counts()
    console.print()
    console.print(
        f"[bold]{counts['error']} error(s), {counts['warning']} warning(s), "
        f"{counts['info']} info[/] in {len(report.routes)} routes",
        highlight=False,
    )


def _print_probe(report: Report, console: Console) -> None:
    probe = report.probe
    assert probe is not None
    console.print()
    console.print(Text(f"Live probe (block threshold {probe.threshold_s * 1000:.0f} ms)",
                       style="bold"))  # fmt: skip
    for probed in probe.routes:
        if probed.skipped is not None:
            console.print(f"  {probed.route}: skipped ({escape(probed.skipped)})", highlight=False)
        else:
            statuses = ", ".join(f"{k}x{v}" for k, v in sorted(probed.statuses.items()))
            console.print(f"  {probed.route}: {probed.sent} requests ({statuses})",
                          highlight=False)  # fmt: skip
    if not probe.incidents:
        console.print("  no event-loop blocks measured")
    for (route, where), durations in summarize_incidents(probe.incidents).items():
        durations.sort()
        console.print(
            f"  [bold red]{len(durations)} block(s)[/] on {escape(route)} at {escape(where)}: "
            f"max {durations[-1] * 1000:.1f} ms, median "
            f"{durations[len(durations) // 2] * 1000:.1f} ms",
            highlight=False,
        )


def summarize_incidents(incidents: tuple[Incident, ...]) -> dict[tuple[str, str], list[float]]:
    """Block durations by (route, project line), the most frequent site first."""
    sites: dict[tuple[str, str], list[float]] = defaultdict(list)
    for incident in incidents:
        where = f"{incident.file}:{incident.line}" if incident.file else "no project frame"
        sites[(incident.route or "no route", where)].append(incident.duration_s)
    return dict(sorted(sites.items(), key=lambda kv: -len(kv[1])))
