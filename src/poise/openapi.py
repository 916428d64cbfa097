"""poise's own answers in the app's OpenAPI schema (``openapi_responses=True``).

poise answers some requests itself, before the app: ``503`` when admission sheds them
and ``504`` when their deadline passes. Client generators and API portals only know what
the schema lists, so with the setting on, every operation of a FastAPI app gets those
responses, as RFC 9457 ``application/problem+json``:

- ``503`` on every operation admission may shed (admission enforcing, and the route not
  ``long_lived``), with its ``Retry-After`` header;
- ``504`` on every operation with a deadline (``@poise.route(deadline=...)`` or the
  ``deadline`` setting), or on all of them when callers may send one
  (``deadline_header``).

An app's own description of a status wins: poise only adds what is not there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

__all__ = ["install_openapi_responses"]

PROBLEM_SCHEMA: Final = "PoiseProblem"
_PROBLEM: Final = {
    "title": "Problem (RFC 9457), answered by poise",
    "type": "object",
    "properties": {
        "type": {"type": "string", "default": "about:blank"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
    "required": ["title", "status"],
}
_CONTENT: Final = {
    "application/problem+json": {"schema": {"$ref": f"#/components/schemas/{PROBLEM_SCHEMA}"}}
}
_SHED: Final = {
    "description": "Shed by poise's admission control: the request was not started. "
    "Retry after the number of seconds in Retry-After.",
    "headers": {
        "Retry-After": {
            "description": "Seconds to wait before retrying this instance.",
            "schema": {"type": "integer"},
        }
    },
    "content": _CONTENT,
}
_DEADLINE: Final = {
    "description": "The request's deadline passed (poise cancelled the handler, or the "
    "request could not start in time).",
    "content": _CONTENT,
}
_METHODS: Final = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})

# (path template, method in lower case) -> (may be shed, has a deadline)
Operations = Callable[[], dict[tuple[str, str], tuple[bool, bool]]]


def install_openapi_responses(app: Any, operations: Operations) -> bool:
    """Make ``app.openapi()`` list poise's answers; ``False`` when the app has no
    FastAPI-style ``openapi`` method (nothing is changed then)."""
    original = getattr(app, "openapi", None)
    if not callable(original) or not hasattr(app, "openapi_schema"):
        return False

    def openapi() -> dict[str, Any]:
        schema: dict[str, Any] = original()  # FastAPI caches it: the additions stay
        add_responses(schema, operations())
        return schema

    app.openapi = openapi
    return True


def add_responses(
    schema: dict[str, Any], operations: dict[tuple[str, str], tuple[bool, bool]]
) -> None:
    """Add poise's 503 and 504 to ``schema``'s operations, in place (idempotent)."""
    added = False
    for path, item in (schema.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        for method, operation in item.items():
            if method not in _METHODS or not isinstance(operation, dict):
                continue
            shed, deadline = operations.get((path, method), (False, False))
            responses = operation.setdefault("responses", {})
            if shed and "503" not in responses:
                responses["503"] = _SHED
                added = True
            if deadline and "504" not in responses:
                responses["504"] = _DEADLINE
                added = True
    if added:
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault(PROBLEM_SCHEMA, _PROBLEM)
