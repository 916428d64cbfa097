"""The corpus: small projects, each with the exact findings it must produce.

Every case directory under ``corpus/`` holds a project and ``expected.toml``; poise
doctor must report exactly those findings (rule, file, line, entry and severity),
nothing more and nothing less. ``corpus/README.md`` says how to add a case.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.doctor.conftest import audit

CORPUS = Path(__file__).parent / "corpus"
# Written blind from the rules' spec, measured once (holdout/RESULTS.md), then kept as a
# second regression set.
HOLDOUT = Path(__file__).parent / "holdout"
CASES = sorted(p for p in CORPUS.iterdir() if (p / "expected.toml").is_file())
HOLDOUT_CASES = sorted(p for p in HOLDOUT.iterdir() if (p / "expected.toml").is_file())

Key = tuple[str, str, int, str, str]


def expected(case: Path) -> set[Key]:
    data = tomllib.loads((case / "expected.toml").read_text(encoding="utf-8"))
    return {(f["rule"], f["file"], f["line"], f["route"], f["severity"])
            for f in data.get("finding", [])}  # fmt: skip


def test_corpus_is_big_enough_and_covers_every_rule() -> None:
    assert len(CASES) >= 40
    positive = {key[0] for case in CASES for key in expected(case)}
    assert positive == {f"PSE1{n:02d}" for n in range(1, 11)}
    negatives = [case for case in CASES if not expected(case)]
    assert len(negatives) >= 10
    assert len(HOLDOUT_CASES) == 30


@pytest.mark.parametrize(
    "case", CASES + HOLDOUT_CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES + HOLDOUT_CASES]
)
def test_case(case: Path) -> None:
    report = audit(case)
    got = {(f.rule, f.file, f.line, f.entry, f.severity) for f in report.findings}
    want = expected(case)
    assert sorted(got - want) == [], "reported but not expected"
    assert sorted(want - got) == [], "expected but not reported"
