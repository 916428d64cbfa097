"""``--format sarif``: SARIF 2.1.0, as GitHub code scanning reads it.

One result per rule and location: a helper reached from five routes is one alert that
names the five routes, not five alerts on the same line. Each route's call chain is a
code flow, so the alert shows how the route gets to the call.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Final

from poise import __version__
from poise.doctor.model import ChainLink, Finding, Report
from poise.doctor.rules import RULES, Rule

__all__ = ["SARIF_SCHEMA", "to_sarif"]

SARIF_SCHEMA: Final = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL: Final = {"error": "error", "warning": "warning", "info": "note"}
_INFO_URI: Final = "https://github.com/poise-dev/poise"
_SRCROOT: Final = "%SRCROOT%"


def to_sarif(report: Report) -> dict[str, Any]:
    """The SARIF log of ``report`` (a JSON-ready dict)."""
    rules = list(RULES.values())
    index = {rule.id: i for i, rule in enumerate(rules)}
    grouped: dict[tuple[str, str, int, int], list[Finding]] = {}
    for finding in report.findings:
        grouped.setdefault((finding.rule, finding.file, finding.line, finding.col), []).append(
            finding
        )
    results = [_result(group, index) for group in grouped.values()]
    root_uri = Path(report.root).resolve().as_uri().rstrip("/") + "/"
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "poise doctor",
                        "semanticVersion": __version__,
                        "version": __version__,
                        "informationUri": _INFO_URI,
                        "rules": [_rule(rule) for rule in rules],
                    }
                },
                "originalUriBaseIds": {_SRCROOT: {"uri": root_uri}},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


def _rule(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": "".join(part.title() for part in rule.name.split("-")),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.why},
        "help": {
            "text": f"{rule.why}\n\nFix: {rule.fix}",
            "markdown": f"{rule.why}\n\n**Fix:** {rule.fix}\n\n[{rule.id} in the docs]"
            f"({rule.help_uri})",
        },
        "helpUri": rule.help_uri,
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
        "properties": {"tags": ["performance", "asyncio", "fastapi"], "precision": "high"},
    }


def _location(file: str, line: int, col: int = 1, message: str | None = None) -> dict[str, Any]:
    location: dict[str, Any] = {
        "physicalLocation": {
            "artifactLocation": {"uri": file, "uriBaseId": _SRCROOT},
            "region": {"startLine": max(line, 1), "startColumn": max(col, 1)},
        }
    }
    if message is not None:
        location["message"] = {"text": message}
    return location


def _flow(finding: Finding) -> dict[str, Any]:
    steps = [_flow_step(link) for link in finding.chain]
    steps.append({"location": _location(finding.file, finding.line, finding.col,
                                        finding.sink or finding.rule)})  # fmt: skip
    return {
        "message": {"text": finding.entry},
        "threadFlows": [{"locations": steps}],
    }


def _flow_step(link: ChainLink) -> dict[str, Any]:
    return {"location": _location(link.file, link.line, 1, link.function)}


def _result(group: list[Finding], index: dict[str, int]) -> dict[str, Any]:
    first = group[0]
    entries = sorted({f.entry for f in group})
    reached = entries[0] if len(entries) == 1 else f"{len(entries)} entry points"
    fingerprint = hashlib.sha256(
        "\0".join([first.rule, first.file, first.sink or "", first.message]).encode()
    ).hexdigest()[:32]
    result: dict[str, Any] = {
        "ruleId": first.rule,
        "ruleIndex": index[first.rule],
        "level": _LEVEL[first.severity],
        "message": {"text": f"{first.message} (reached from {reached}). Fix: {first.fix}"},
        "locations": [_location(first.file, first.line, first.col)],
        "partialFingerprints": {"poiseFinding/v1": fingerprint},
        "properties": {"entries": entries, "confirmed": any(f.confirmed for f in group)},
    }
    flows = [_flow(f) for f in group if f.chain]
    if flows:
        result["codeFlows"] = flows
    return result
