"""How a request ended: the rules of ``settle``, one row each."""

from __future__ import annotations

import itertools
from typing import get_args

import pytest

from poise.ledger import Outcome
from poise.middleware.outcome import CLIENT_CLOSED_REQUEST, settle

NEVER_STARTED = 0


def rule(
    name: str, status: int, flags: str, expected: tuple[int, Outcome], preset: Outcome | None = None
) -> pytest.ParameterSet:
    """One row: ``flags`` names which of complete, disconnected and raised are true."""
    given = set(flags.split())
    assert given <= {"complete", "disconnected", "raised"}, given
    complete, disconnected, raised = (f in given for f in ("complete", "disconnected", "raised"))
    return pytest.param(status, preset, complete, disconnected, raised, expected, id=name)


RULES = [
    # A response sent to its last byte: its status says.
    rule("complete-below-500-is-ok", 499, "complete", (499, "ok")),
    rule("complete-from-500-is-error", 500, "complete", (500, "error")),
    rule("complete-then-client-left-is-ok", 200, "complete disconnected", (200, "ok")),
    rule("complete-but-app-raised-is-error", 200, "complete raised", (200, "error")),
    # A response started but not finished: the client's doing, or the app's.
    rule("cut-by-the-client", 200, "disconnected", (200, "client_disconnected")),
    rule("client-gone-wins-over-raise", 200, "disconnected raised", (200, "client_disconnected")),
    rule("unfinished-client-there-is-error", 200, "", (200, "error")),
    # No response at all: 499 when nobody is there, else 500 (what the server sends).
    rule("never-started-client-left", NEVER_STARTED, "disconnected", (499, "client_disconnected")),
    rule("never-started-client-there", NEVER_STARTED, "raised", (500, "error")),
    # An outcome decided on purpose is kept; only a missing status is filled in.
    rule("preset-wins", 504, "disconnected raised", (504, "deadline"), preset="deadline"),
    rule("preset-status-filled-in", NEVER_STARTED, "disconnected", (499, "shed"), preset="shed"),
]


@pytest.mark.parametrize(
    ("status", "preset", "complete", "disconnected", "raised", "expected"), RULES
)
def test_settle(
    status: int,
    preset: Outcome | None,
    complete: bool,
    disconnected: bool,
    raised: bool,
    expected: tuple[int, Outcome],
) -> None:
    assert (
        settle(
            status=status,
            preset=preset,
            complete=complete,
            disconnected=disconnected,
            raised=raised,
        )
        == expected
    )


def test_a_request_nobody_waits_for_is_recorded_as_nginx_499() -> None:
    assert CLIENT_CLOSED_REQUEST == 499


@pytest.mark.parametrize(
    ("status", "preset"),
    # The presets are what components decide on purpose: shed and deadline.
    list(itertools.product([NEVER_STARTED, 200, 404, 500, 503], [None, "shed", "deadline"])),
)
def test_every_request_gets_a_status_and_an_outcome(status: int, preset: Outcome | None) -> None:
    for complete, disconnected, raised in itertools.product([False, True], repeat=3):
        if complete and status == NEVER_STARTED:
            continue  # a body cannot be complete without a response
        settled, outcome = settle(
            status=status,
            preset=preset,
            complete=complete,
            disconnected=disconnected,
            raised=raised,
        )
        assert settled == status or status == NEVER_STARTED
        assert 100 <= settled <= 599
        assert outcome in get_args(Outcome)
        if preset is not None:
            assert outcome == preset
        # Only a finished, unraised response below 500 is a success.
        if outcome == "ok":
            assert complete
            assert not raised
            assert settled < 500
