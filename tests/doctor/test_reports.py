"""The human reports: text and HTML, with and without a probe, escaping what code says."""

from __future__ import annotations

import io
import re

from rich.console import Console

from poise.doctor.html import to_html
from poise.doctor.model import ChainLink, Finding, Incident, ProbedRoute, ProbeResult, Report
from poise.doctor.rules import RULES
from poise.doctor.text import print_text, render_chain

HOSTILE = "GET /items/<script>alert(1)</script>"


def report(*, probe: bool) -> Report:
    finding = Finding(
        rule="PSE101", severity="error", message="sleep `time.sleep` blocks the event loop",
        file="app/views.py", line=12, col=5, entry=HOSTILE,
        chain=(ChainLink("app.views:index", "app/views.py", 9),
               ChainLink("app.util:nap", "app/views.py", 11)),
        fix=RULES["PSE101"].fix, confirmed=probe, sink="time.sleep",
    )  # fmt: skip
    info = Finding("PSE108", "info", "sync def `sync` runs in the thread pool", "app/views.py",
                   20, 1, "GET /sync", (), RULES["PSE108"].fix)  # fmt: skip
    result = Report("0.1.0", "app.views:app", "/srv", [finding, info], [], files=2, lines=40)
    if probe:
        result.probe = ProbeResult(
            threshold_s=0.01,
            routes=(ProbedRoute(HOSTILE, 5, {200: 5}),
                    ProbedRoute("GET /x/{id}", 0, {}, "no example or default for id")),
            incidents=(Incident(0.03, HOSTILE, "app/views.py", 12, ()),
                       Incident(0.05, HOSTILE, "app/views.py", 12, ()),
                       Incident(0.02, None, None, None, ())),
        )  # fmt: skip
    return result


def test_chain_runs_from_the_entry_to_the_sink() -> None:
    finding = report(probe=False).findings[0]
    assert render_chain(finding) == (
        f"{HOSTILE} -> index (views.py:9) -> nap (views.py:11) -> time.sleep (views.py:12)"
    )


def test_text_report_with_probe() -> None:
    out = io.StringIO()
    print_text(report(probe=True), Console(file=out, width=200, no_color=True))
    text = out.getvalue()
    assert "(confirmed by the probe)" in text
    assert "Thread-pool jumps" not in text  # no route counts jumps in this report
    assert "Live probe (block threshold 10 ms)" in text
    assert "GET /x/{id}: skipped (no example or default for id)" in text
    assert f"2 block(s) on {HOSTILE} at app/views.py:12: max 50.0 ms" in text
    assert "1 block(s) on no route at no project frame" in text
    assert "1 error(s), 0 warning(s), 1 info" in text


def test_html_is_self_contained_and_escaped() -> None:
    page = to_html(report(probe=True))
    assert page.startswith("<!doctype html>")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # Nothing is fetched: no external stylesheets, scripts or images.
    assert not re.search(r"<(link|script|img)\b", page)
    assert 'class="finding error"' in page
    assert "confirmed by the probe" in page
    assert "2 block(s) on GET /items/&lt;script&gt;" in page
    assert "skipped (no example or default for id)" in page


def test_html_without_findings() -> None:
    empty = Report("0.1.0", "app:app", "/srv", [], [], notes=["not analysed: x.py: bad"])
    page = to_html(empty)
    assert "<p>No findings.</p>" in page
    assert "note: not analysed: x.py: bad" in page
