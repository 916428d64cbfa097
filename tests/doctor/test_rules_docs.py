"""docs/rules.md: a section per rule, and its examples do what they say.

Each rule's **Bad** example must produce that rule on the line marked ``# PSE1xx``;
its **Good** example must produce no error or warning. The examples are run through
the doctor as they stand in the docs.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from poise.doctor.rules import RULES
from tests.doctor.conftest import WriteProject, audit

DOCS = Path(__file__).parents[2] / "docs" / "rules.md"
TEXT = DOCS.read_text(encoding="utf-8")
SECTION = re.compile(r"^## (PSE\d{3}): ([\w-]+)$", re.MULTILINE)
BLOCK = re.compile(r"\*\*(Bad|Good)\*\*.*?```python\n(.*?)```", re.DOTALL)


def sections() -> dict[str, tuple[str, str]]:
    """rule id -> (name in the heading, section text)."""
    found = list(SECTION.finditer(TEXT))
    out = {}
    for match, following in zip(found, [*found[1:], None], strict=True):
        end = following.start() if following else len(TEXT)
        out[match[1]] = (match[2], TEXT[match.end() : end])
    return out


def test_every_rule_has_its_section() -> None:
    documented = sections()
    assert list(documented) == list(RULES)
    for rule_id, (name, _text) in documented.items():
        assert name == RULES[rule_id].name


@pytest.mark.parametrize("rule_id", list(RULES))
def test_examples(rule_id: str, write_project: WriteProject) -> None:
    _name, text = sections()[rule_id]
    blocks = dict(BLOCK.findall(text))
    assert set(blocks) == {"Bad", "Good"}, f"{rule_id} needs a Bad and a Good example"

    bad_lines = [n for n, line in enumerate(blocks["Bad"].splitlines(), 1)
                 if line.rstrip().endswith(f"# {rule_id}")]  # fmt: skip
    assert bad_lines, f"the Bad example of {rule_id} marks no line"
    bad = audit(write_project({"bad/app.py": blocks["Bad"]}) / "bad")
    hit = {f.line for f in bad.findings if f.rule == rule_id}
    assert set(bad_lines) <= hit, [f.to_dict() for f in bad.findings]

    good = audit(write_project({"good/app.py": blocks["Good"]}) / "good")
    assert [f.to_dict() for f in good.findings if f.severity != "info"] == []
    assert rule_id not in {f.rule for f in good.findings}
