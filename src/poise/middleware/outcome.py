"""How a request ended: one pure function, used for every request poise records."""

from __future__ import annotations

from typing import Final

from poise.ledger import Outcome

__all__ = ["CLIENT_CLOSED_REQUEST", "settle"]

#: Status recorded when the client went away before any response started (nginx's 499).
CLIENT_CLOSED_REQUEST: Final = 499


def settle(
    *,
    status: int,
    preset: Outcome | None,
    complete: bool,
    disconnected: bool,
    raised: bool,
) -> tuple[int, Outcome]:
    """The status to record and the outcome of a request that has ended.

    Args:
        status: the status sent, 0 if no response started.
        preset: an outcome a component decided on purpose (``shed``, ``deadline``);
            it is kept.
        complete: the last body byte was handed to the server.
        disconnected: the client went away (a disconnect message, or the server
            raising on send).
        raised: the app (or poise's answer) raised.

    Returns:
        ``(status, outcome)``. A response that never started is recorded as 499 when
        the client left, else 500 (what the server sends itself).
    """
    if status == 0:
        status = CLIENT_CLOSED_REQUEST if disconnected else 500
    if preset is not None:
        return status, preset
    if complete and not raised:
        return status, "ok" if status < 500 else "error"
    return status, "client_disconnected" if disconnected else "error"
