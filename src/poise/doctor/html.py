"""``--format html``: one self-contained page (inline CSS, no scripts, nothing fetched)."""

from __future__ import annotations

from collections import defaultdict
from html import escape
from typing import Final

from poise.doctor.model import Finding, Report
from poise.doctor.rules import RULES
from poise.doctor.text import render_chain, summarize_incidents

__all__ = ["to_html"]

_CSS: Final = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#222;padding:0 1rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
code,.chain{font-family:ui-monospace,monospace;font-size:.9em}
.finding{border-left:4px solid #999;padding:.3rem .8rem;margin:.6rem 0;background:#fafafa}
.error{border-color:#c62828}.warning{border-color:#ef8f00}.info{border-color:#1e88e5}
.sev{font-weight:600;text-transform:uppercase;font-size:.8em}
.error .sev{color:#c62828}.warning .sev{color:#b86e00}.info .sev{color:#1565c0}
.where,.chain{color:#555}.fix{color:#2e7d32}.confirmed{color:#6a1b9a;font-weight:600}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.25rem .6rem;text-align:left}
.summary span{margin-right:1.2rem;font-weight:600}
"""


def to_html(report: Report) -> str:
    """The report as a standalone HTML page; every value from the code is escaped."""
    counts = report.counts()
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>poise doctor: {escape(report.target)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>poise doctor <code>{escape(report.target)}</code></h1>",
        f"<p>{report.files} files, {report.lines:,} lines, {len(report.routes)} routes; "
        f"poise {escape(report.poise_version)}</p>",
        '<p class="summary">'
        f'<span class="error-count">{counts["error"]} errors</span>'
        f'<span class="warning-count">{counts["warning"]} warnings</span>'
        f'<span class="info-count">{counts["info"]} info</span></p>',
    ]
    groups: dict[str, list[Finding]] = defaultdict(list)
    for finding in report.findings:
        groups[finding.entry].append(finding)
    if not groups:
        parts.append("<p>No findings.</p>")
    for entry in sorted(groups, key=lambda e: (min(f.sort_key for f in groups[e]), e)):
        parts.append(f"<h2>{escape(entry)}</h2>")
        parts.extend(_finding(f) for f in groups[entry])
    if report.routes:
        parts.append("<h2>Routes</h2><table><tr><th>route</th><th>handler</th>"
                     "<th>async</th><th>thread-pool jumps</th></tr>")  # fmt: skip
        for info in report.routes:
            parts.append(
                f"<tr><td>{escape(info.name)}</td><td><code>{escape(info.handler)}</code></td>"
                f"<td>{'yes' if info.is_async else 'no'}</td><td>{info.thread_jumps}</td></tr>"
            )
        parts.append("</table>")
    if report.probe is not None:
        parts.append(f"<h2>Live probe</h2><p>Block threshold "
                     f"{report.probe.threshold_s * 1000:.0f} ms.</p><ul>")  # fmt: skip
        for (route, where), durations in summarize_incidents(report.probe.incidents).items():
            parts.append(
                f"<li>{len(durations)} block(s) on {escape(route)} at <code>{escape(where)}</code>"
                f": max {max(durations) * 1000:.1f} ms</li>"
            )
        for probed in report.probe.routes:
            if probed.skipped is not None:
                parts.append(f"<li>{escape(probed.route)}: skipped ({escape(probed.skipped)})</li>")
        parts.append("</ul>")
    parts.extend(f"<p><em>note: {escape(note)}</em></p>" for note in report.notes)
    parts.append("</body></html>")
    return "\n".join(parts)


def _finding(finding: Finding) -> str:
    rule = RULES[finding.rule]
    confirmed = ""
    if finding.confirmed:
        confirmed = ' <span class="confirmed">confirmed by the probe</span>'
    return (
        f'<div class="finding {finding.severity}">'
        f'<span class="sev">{finding.severity}</span> '
        f'<a href="{escape(rule.help_uri)}"><b>{finding.rule}</b></a> '
        f"{escape(finding.message)}{confirmed}<br>"
        f'<span class="where">{escape(finding.file)}:{finding.line}:{finding.col}</span><br>'
        f'<span class="chain">{escape(render_chain(finding))}</span><br>'
        f'<span class="fix">fix: {escape(finding.fix)}</span></div>'
    )
