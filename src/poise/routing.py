"""Resolve a finished request to its route template, cheaply and without re-routing.

Exporters that re-run every route's regex after the response (the common approach)
double the routing cost of each request. poise instead reads what the router already
left in the scope (``scope["route"]`` in Starlette 1.x and FastAPI, ``scope["endpoint"]``
in older Starlette) and looks it up in a table built once by walking the app's route
tree, where mount and ``include_router`` prefixes are already joined. Only the rare
request that carries no routing result (a middleware answered it, or copied the scope)
pays for matching against the table.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from starlette.routing import compile_path

from poise.ledger import UNMATCHED
from poise.types import Scope

__all__ = ["RouteTemplates"]

# How often a routing result missing from the table may trigger a rebuild: routes added
# after start-up are picked up, and a flood of odd requests cannot make us re-walk often.
_REBUILD_INTERVAL: Final = 5.0
_MOUNT_SUFFIX: Final = "/{path}"


@dataclass(slots=True)
class _Entry:
    route: object
    template: str
    methods: frozenset[str] | None
    regex: re.Pattern[str] | None = field(default=None)
    # A mount whose app has routes of its own: it is the key only when the inner
    # router matched nothing.
    container: bool = False

    def pattern(self) -> re.Pattern[str]:
        if self.regex is None:
            self.regex = compile_path(self.template)[0]
        return self.regex


class RouteTemplates:
    """Maps the routing result in a finished request's scope to a full route template.

    Args:
        app: the application whose route tree is read (anything with ``.routes``; an
            app without routes labels every request ``"<unmatched>"``).
    """

    def __init__(self, app: object) -> None:
        self._app = app
        # id(route or endpoint) -> template, for the keys that name exactly one plain
        # route: the one dict lookup almost every request needs.
        self._unique: dict[int, str] = {}
        self._by_key: dict[int, list[_Entry]] = {}
        self._entries: list[_Entry] = []
        self._built_at = -_REBUILD_INTERVAL
        self._built = False

    def resolve(self, scope: Scope, status: int, root_path: str) -> str:
        """The template of the route that handled the request.

        Args:
            scope: the request scope, after the app has run.
            status: the response status (a 404 without a routing result is unmatched).
            root_path: ``scope["root_path"]`` as it was when the request arrived,
                before mounts extended it.
        """
        key = scope.get("route")
        if key is None:
            key = scope.get("endpoint")
            if key is None:
                if status == 404:
                    return UNMATCHED
                return self._match(scope, root_path)
        template = self._unique.get(id(key))
        if template is not None:
            return template
        return self._resolve_key(key, scope, status, root_path)

    def _resolve_key(self, key: object, scope: Scope, status: int, root_path: str) -> str:
        if not self._built:
            self._rebuild()
        entries = self._by_key.get(id(key))
        if entries is None and self._rebuild_allowed():
            self._rebuild()
            entries = self._by_key.get(id(key))
        if entries is None:
            template = getattr(key, "path_format", None)
            return template if isinstance(template, str) else self._match(scope, root_path)
        entry = entries[0] if len(entries) == 1 else self._disambiguate(entries, scope, root_path)
        if entry.container:
            return UNMATCHED if status == 404 else entry.template
        return entry.template

    def templates(self) -> list[str]:
        """Every template in the route tree, in routing order."""
        if not self._built:
            self._rebuild()
        return [e.template for e in self._entries if not e.container]

    # -- building -------------------------------------------------------------------

    def endpoints(self) -> list[tuple[re.Pattern[str], frozenset[str] | None, object]]:
        """``(path regex, methods or None, endpoint)`` of every plain route, for lookups
        that must happen before the app routes a request (admission options)."""
        out = []
        for entry, keys in _walk(getattr(self._app, "routes", None) or (), ""):
            if entry.container or len(keys) < 2:
                continue
            out.append((entry.pattern(), entry.methods, keys[1]))
        return out

    def _rebuild_allowed(self) -> bool:
        return time.monotonic() - self._built_at >= _REBUILD_INTERVAL

    def _rebuild(self) -> None:
        by_key: dict[int, list[_Entry]] = {}
        entries: list[_Entry] = []
        for entry, keys in _walk(getattr(self._app, "routes", ()), ""):
            entries.append(entry)
            for key in keys:
                bucket = by_key.setdefault(id(key), [])
                if all(e.template != entry.template for e in bucket):
                    bucket.append(entry)
        # Only the objects kept alive by the route tree itself are keys, so an id() in
        # this table cannot be reused by another object while the tree holds them.
        self._unique = {
            key: bucket[0].template
            for key, bucket in by_key.items()
            if len(bucket) == 1 and not bucket[0].container
        }
        self._by_key = by_key
        self._entries = entries
        self._built_at = time.monotonic()
        self._built = True

    # -- matching (rare path) -----------------------------------------------------------

    def _disambiguate(self, entries: list[_Entry], scope: Scope, root_path: str) -> _Entry:
        # The same route object reachable under several prefixes (one APIRouter included
        # twice): the path decides.
        path = _route_path(scope, root_path)
        for entry in entries:
            if entry.pattern().match(path):
                return entry
        return entries[0]

    def _match(self, scope: Scope, root_path: str) -> str:
        if not self._built:
            self._rebuild()
        path = _route_path(scope, root_path)
        method = scope.get("method")
        partial: str | None = None
        for entry in self._entries:
            if entry.container or not entry.pattern().match(path):
                continue
            if entry.methods is None or method in entry.methods:
                return entry.template
            if partial is None:
                partial = entry.template
        return partial if partial is not None else UNMATCHED


def _route_path(scope: Scope, root_path: str) -> str:
    path: str = scope.get("path", "")
    if root_path and path.startswith(root_path) and path != root_path:
        rest = path[len(root_path) :]
        if rest.startswith("/"):
            return rest
    return path


def _route_contexts(routes: Iterable[Any]) -> Iterator[tuple[Any, str | None]]:
    """``(route, path template at this level)`` for each route, prefixes joined.

    FastAPI releases that keep included routers nested (instead of copying their routes
    with the prefix applied) expose ``fastapi.routing.iter_route_contexts`` to walk them;
    it is used when FastAPI is already imported, never imported for a Starlette app.
    """
    fastapi_routing = sys.modules.get("fastapi.routing")
    iter_contexts = getattr(fastapi_routing, "iter_route_contexts", None)
    if iter_contexts is None:
        for route in routes:
            yield route, getattr(route, "path_format", None)
        return
    for context in iter_contexts(list(routes)):
        yield context.original_route, context.path_format


def _walk(routes: Iterable[Any], prefix: str) -> Iterator[tuple[_Entry, tuple[object, ...]]]:
    for route, path_format in _route_contexts(routes):
        sub_routes = getattr(route, "routes", None)
        endpoint = getattr(route, "endpoint", None)
        keys: tuple[object, ...] = (route,) if endpoint is None else (route, endpoint)
        if sub_routes is not None and not callable(sub_routes):
            # Mount (path prefix) or Host (no path prefix).
            if isinstance(path_format, str) and path_format.endswith(_MOUNT_SUFFIX):
                inner_prefix = prefix + path_format[: -len(_MOUNT_SUFFIX)]
            else:
                inner_prefix = prefix
            template = inner_prefix + _MOUNT_SUFFIX
            mounted_app = getattr(route, "app", None)
            if sub_routes:
                yield _Entry(route, template, None, container=True), (route,)
                yield from _walk(sub_routes, inner_prefix)
            else:
                # A mounted app without routes (static files, another ASGI app): the
                # mount itself is the route.
                app_keys = keys if mounted_app is None else (*keys, mounted_app)
                yield _Entry(route, template, None), app_keys
            continue
        if not isinstance(path_format, str):
            continue
        methods = getattr(route, "methods", None)
        yield (
            _Entry(route, prefix + path_format, frozenset(methods) if methods else None),
            keys,
        )
