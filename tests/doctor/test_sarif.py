"""SARIF output: valid against the SARIF 2.1.0 schema, one alert per place, with flows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from poise.doctor.rules import RULES
from poise.doctor.sarif import to_sarif
from tests.doctor.conftest import WriteProject, audit

SCHEMA = json.loads((Path(__file__).parent / "sarif-schema-2.1.0.json").read_text())


@pytest.fixture
def sarif(write_project: WriteProject) -> dict[str, Any]:
    root = write_project({
        "app.py": """
            from fastapi import FastAPI

            from helpers import fetch

            app = FastAPI()


            @app.get("/a")
            async def a() -> str:
                return fetch()


            @app.get("/b")
            async def b() -> str:
                return fetch()


            @app.on_event("startup")
            async def start() -> None:
                pass
        """,
        "helpers.py": """
            import requests


            def fetch() -> str:
                return requests.get("http://example.invalid", timeout=2).text
        """,
    })  # fmt: skip
    return to_sarif(audit(root))


def test_valid_against_the_schema(sarif: dict[str, Any]) -> None:
    jsonschema.validate(sarif, SCHEMA, cls=jsonschema.Draft4Validator)
    # Round-trips as JSON, as written to disk.
    jsonschema.validate(json.loads(json.dumps(sarif)), SCHEMA, cls=jsonschema.Draft4Validator)


def test_an_invalid_log_is_rejected(sarif: dict[str, Any]) -> None:
    """The validation above can fail: a result without a message is not SARIF."""
    broken = json.loads(json.dumps(sarif))
    del broken["runs"][0]["results"][0]["message"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA, cls=jsonschema.Draft4Validator)


def test_rules_carry_metadata_and_help(sarif: dict[str, Any]) -> None:
    rules = sarif["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(RULES)
    pse101 = rules[0]
    assert pse101["name"] == "BlockingCallInAsync"
    assert pse101["defaultConfiguration"] == {"level": "error"}
    assert pse101["helpUri"].endswith("docs/rules.md#pse101")
    assert "Fix:" in pse101["help"]["text"]


def test_one_result_per_location_with_a_flow_per_route(sarif: dict[str, Any]) -> None:
    results = sarif["runs"][0]["results"]
    blocking = [r for r in results if r["ruleId"] == "PSE101"]
    assert len(blocking) == 1
    (result,) = blocking
    assert result["level"] == "error"
    region = result["locations"][0]["physicalLocation"]
    assert region["artifactLocation"] == {"uri": "helpers.py", "uriBaseId": "%SRCROOT%"}
    assert region["region"]["startLine"] == 5
    assert result["properties"]["entries"] == ["GET /a", "GET /b"]
    assert len(result["codeFlows"]) == 2
    steps = result["codeFlows"][0]["threadFlows"][0]["locations"]
    assert [s["location"]["message"]["text"] for s in steps] == [
        "app:a", "helpers:fetch", "requests.get",
    ]  # fmt: skip
    on_event = next(r for r in results if r["ruleId"] == "PSE107")
    assert on_event["level"] == "note"
    assert result["ruleIndex"] == 0
