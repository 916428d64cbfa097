"""Entry points, found statically: routes with their dependencies, middleware, lifespan.

Apps and routers are the variables assigned ``FastAPI(...)``, ``APIRouter(...)``,
``Starlette(...)`` or ``Router(...)``, at module level or inside a factory function.
Everything registered on them (decorators, ``add_*`` and ``include_router`` calls,
constructor arguments) is collected, and route paths are assembled from the app down
through every ``include_router`` prefix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from poise.doctor.resolve import Resolver, Value
from poise.doctor.summary import Func, ModuleSummary, Ref

__all__ = ["Entry", "EntryFinder", "Root"]

APP_CLASSES: Final = frozenset({
    "fastapi.FastAPI", "fastapi.applications.FastAPI", "starlette.applications.Starlette",
})  # fmt: skip
ROUTER_CLASSES: Final = frozenset({
    "fastapi.APIRouter", "fastapi.routing.APIRouter", "starlette.routing.Router",
})  # fmt: skip
DEPENDS: Final = frozenset({
    "fastapi.Depends", "fastapi.Security", "fastapi.param_functions.Depends",
    "fastapi.param_functions.Security", "fastapi.params.Depends", "fastapi.params.Security",
})  # fmt: skip
ANNOTATED: Final = frozenset({"typing.Annotated", "typing_extensions.Annotated"})
HTTP_METHODS: Final = frozenset({"get", "post", "put", "patch", "delete", "head", "options",
                                 "trace"})  # fmt: skip
STARLETTE_ROUTE: Final = frozenset({"starlette.routing.Route", "fastapi.routing.APIRoute"})
STARLETTE_MOUNT: Final = frozenset({"starlette.routing.Mount"})
STARLETTE_MIDDLEWARE: Final = frozenset({"starlette.middleware.Middleware"})
UNKNOWN_PATH: Final = "{?}"

Mode = Literal["request", "once", "bg", "import"]


@dataclass(frozen=True, slots=True)
class Root:
    """A function an entry point runs: where analysis starts, and how it runs."""

    key: str
    on_loop: bool
    mode: Mode
    # The dependency's class when the root is a class dependency's __init__.
    owner: str | None = None


@dataclass(slots=True)
class Entry:
    """An entry point: a route (``GET /x``), or ``middleware``, ``lifespan``, ..."""

    name: str
    roots: list[Root]
    # PSE107: (file, line) of deprecated on_event style registrations.
    deprecated: list[tuple[str, int]] = field(default_factory=list)
    # Routes only: the handler and whether it is async.
    method: str | None = None
    path: str | None = None
    handler: str | None = None


@dataclass(slots=True)
class _Object:
    """An app or a router, and what was registered on it."""

    slot: str
    is_app: bool
    prefix: str = ""
    dependencies: list[Ref] = field(default_factory=list)
    routes: list[tuple[list[str], str, Ref, list[Ref]]] = field(default_factory=list)
    includes: list[tuple[str, str, list[Ref]]] = field(default_factory=list)
    middleware: list[Ref] = field(default_factory=list)
    middleware_classes: list[Ref] = field(default_factory=list)
    lifespan: list[Ref] = field(default_factory=list)
    events: list[tuple[Ref, str, int]] = field(default_factory=list)
    handlers: list[Ref] = field(default_factory=list)
    included: bool = False


class EntryFinder:
    """Finds the apps and routers of the loaded modules and the entry points they serve."""

    def __init__(self, resolver: Resolver) -> None:
        self.r = resolver
        self.objects: dict[str, _Object] = {}
        # Code the finder could not make sense of: skipped and named in the report.
        self.errors: list[str] = []

    # -- discovery -------------------------------------------------------------------

    def scan(self, modules: list[ModuleSummary]) -> None:
        """Collect apps, routers and their registrations from ``modules``."""
        for summary in modules:
            try:
                self._scan_module(summary)
            except Exception as exc:  # a bug must cost one module, not the audit
                self.errors.append(f"{summary.path}: {type(exc).__name__}: {exc}")
        for summary in modules:
            for func in summary.functions.values():
                for line, decorator in func.decorators:
                    try:
                        self._decorator(func, summary, line, decorator)
                    except Exception as exc:
                        self.errors.append(f"{summary.path}:{line}: {type(exc).__name__}: {exc}")
                for call in func.calls:
                    try:
                        self._registration(call.ref, summary, call.line)
                    except Exception as exc:
                        self.errors.append(
                            f"{summary.path}:{call.line}: {type(exc).__name__}: {exc}"
                        )

    def _scan_module(self, summary: ModuleSummary) -> None:
        lines: dict[Ref, int] = {
            call.ref: call.line for f in summary.functions.values() for call in f.calls
        }
        for name, values in summary.globals.items():
            self._maybe_object(f"{summary.name}.{name}", values, summary, lines)
        for func in summary.functions.values():
            for name, values in func.locals.items():
                self._maybe_object(f"{func.key}.{name}", values, summary, lines)

    def _maybe_object(self, slot: str, values: list[Ref], summary: ModuleSummary,
                      lines: dict[Ref, int]) -> None:  # fmt: skip
        for ref in values:
            if ref is None or ref[0] != "call":
                continue
            callee = self.r.value(ref[1])
            if callee is None or callee[0] != "ext":
                continue
            if callee[1] in APP_CLASSES or callee[1] in ROUTER_CLASSES:
                obj = _Object(slot, is_app=callee[1] in APP_CLASSES)
                self.objects[slot] = obj
                self._constructor(obj, ref, summary.path, lines.get(ref, 0))
                return

    def _constructor(self, obj: _Object, ref: tuple[Any, ...], file: str, line: int) -> None:
        kwargs = dict(ref[3])
        prefix = self.r.literal(kwargs.get("prefix"))
        if prefix is not None and prefix[0] == "str":
            obj.prefix = prefix[1]
        obj.dependencies.extend(self._items(kwargs.get("dependencies")))
        if kwargs.get("lifespan") is not None:
            obj.lifespan.append(kwargs["lifespan"])
        for event in ("on_startup", "on_shutdown"):
            for item in self._items(kwargs.get(event)):
                obj.events.append((item, file, line))
        for item in self._items(kwargs.get("middleware")):
            if item is not None and item[0] == "call" and item[2]:
                callee = self.r.value(item[1])
                if callee is not None and callee[0] == "ext" and callee[1] in STARLETTE_MIDDLEWARE:
                    obj.middleware_classes.append(item[2][0])
        handlers = self.r.literal(kwargs.get("exception_handlers"))
        if handlers is not None and handlers[0] == "dict":
            obj.handlers.extend(handlers[2])
        self._starlette_routes(obj, "", kwargs.get("routes"))

    def _starlette_routes(self, obj: _Object, prefix: str, routes: Ref) -> None:
        for item in self._items(routes):
            if item is None or item[0] != "call":
                continue
            callee = self.r.value(item[1])
            if callee is None or callee[0] != "ext":
                continue
            args, kwargs = item[2], dict(item[3])
            path = self._path(args[0] if args else kwargs.get("path"))
            if callee[1] in STARLETTE_ROUTE:
                endpoint = args[1] if len(args) > 1 else kwargs.get("endpoint")
                methods = self._methods(kwargs.get("methods"), ["GET"])
                obj.routes.append((methods, prefix + path, endpoint, []))
            elif callee[1] in STARLETTE_MOUNT:
                sub = kwargs.get("app") or (args[1] if len(args) > 1 else None)
                slot = self.slot(sub)
                if slot is not None:
                    obj.includes.append((slot, prefix + path, []))
                self._starlette_routes(obj, prefix + path, kwargs.get("routes"))

    def _items(self, ref: Ref) -> list[Ref]:
        found = self.r.literal(ref)
        return list(found[1]) if found is not None and found[0] == "list" else []

    def _path(self, ref: Ref) -> str:
        found = self.r.literal(ref)
        return found[1] if found is not None and found[0] == "str" else UNKNOWN_PATH

    def _methods(self, ref: Ref, default: list[str]) -> list[str]:
        items = self._items(ref)
        methods = [str(i[1]).upper() for i in items if i is not None and i[0] == "str"]
        return methods or default

    def slot(self, ref: Ref) -> str | None:
        """The app or router object ``ref`` names (``pkg.main.app``), if it is one."""
        return next(self.slots(ref), None)

    def slots(self, ref: Ref, depth: int = 0) -> Iterator[str]:
        """Every app or router ``ref`` may name: one, or several for a name bound more
        than once (``for router in (users.router, orders.router): ...``)."""
        if ref is None or depth > 8:
            return
        tag = ref[0]
        if tag == "g":
            summary, name = self.r.global_slot(ref[1])
            if summary is None or name is None:
                return
            slot = f"{summary.name}.{name}"
            if slot in self.objects:
                yield slot
                return
            for value in summary.globals.get(name, ()):
                yield from self.slots(value, depth + 1)
        elif tag == "l":
            slot = f"{ref[1]}.{ref[2]}"
            if slot in self.objects:
                yield slot
                return
            func = self.r.func(ref[1])
            for value in func.locals.get(ref[2], ()) if func else ():
                yield from self.slots(value, depth + 1)
        elif tag == "a":
            base = self.r.value(ref[1])
            if base is not None and base[0] == "mod":  # ``routers.orders.router``
                yield from self.slots(("g", f"{base[1]}.{ref[2]}"), depth + 1)
            elif ref[2] == "router":  # ``app.router`` is the app's own router
                yield from self.slots(ref[1], depth + 1)
        elif tag == "call":
            callee = self.r.value(ref[1])
            if callee is not None and callee[0] == "func":
                func = self.r.func(callee[1])
                for value in func.returns if func else ():
                    yield from self.slots(value, depth + 1)

    def _decorator(self, func: Func, summary: ModuleSummary, line: int, ref: Ref) -> None:
        if ref is None or ref[0] != "call" or ref[1] is None or ref[1][0] != "a":
            return
        method = ref[1][2]
        slot = self.slot(ref[1][1])
        if slot is None:
            return
        obj = self.objects[slot]
        args, kwargs = ref[2], dict(ref[3])
        target: Ref = ("g", f"{func.module}.{func.qualname}")
        if method in HTTP_METHODS or method in ("api_route", "route", "websocket"):
            path = self._path(args[0] if args else kwargs.get("path"))
            if method in HTTP_METHODS:
                methods = [method.upper()]
            elif method == "websocket":
                methods = ["WS"]
            else:
                methods = self._methods(kwargs.get("methods"), ["GET"])
            obj.routes.append((methods, path, target, self._items(kwargs.get("dependencies"))))
        elif method == "middleware":
            obj.middleware.append(target)
        elif method == "exception_handler":
            obj.handlers.append(target)
        elif method == "on_event":
            obj.events.append((target, summary.path, line))

    def _registration(self, ref: tuple[Any, ...], summary: ModuleSummary, line: int) -> None:
        if ref[1] is None or ref[1][0] != "a":
            return
        method = ref[1][2]
        if method not in _REGISTRATIONS:
            return
        slot = self.slot(ref[1][1])
        if slot is None:
            return
        obj = self.objects[slot]
        args, kwargs = ref[2], dict(ref[3])

        def arg(index: int, name: str) -> Ref:
            return args[index] if len(args) > index else kwargs.get(name)

        if method == "include_router" or method == "mount":
            child_ref = arg(0, "router") if method == "include_router" else arg(1, "app")
            for child in dict.fromkeys(self.slots(child_ref)):
                prefix = self._path(kwargs.get("prefix")) if "prefix" in kwargs else ""
                if method == "mount":
                    prefix = self._path(arg(0, "path"))
                obj.includes.append((child, prefix, self._items(kwargs.get("dependencies"))))
        elif method in ("add_api_route", "add_route"):
            methods = self._methods(kwargs.get("methods"), ["GET"])
            route = (methods, self._path(arg(0, "path")), arg(1, "endpoint"),
                     self._items(kwargs.get("dependencies")))  # fmt: skip
            obj.routes.append(route)
        elif method == "add_middleware":
            obj.middleware_classes.append(arg(0, "middleware_class"))
        elif method == "add_exception_handler":
            obj.handlers.append(arg(1, "handler"))
        elif method == "add_event_handler":
            obj.events.append((arg(1, "func"), summary.path, line))

    # -- entry points -----------------------------------------------------------------

    def roots_for(self, slots: list[str] | None, *, outermost: bool = False) -> list[str]:
        """The objects to start from: every app/router nothing includes, or ``slots``.

        Args:
            slots: start from these (a ``module:app`` target names one).
            outermost: of ``slots``, only those nothing includes (a file target: its
                router included by its app is walked under the app's prefix, not on its
                own), unless that leaves none.
        """
        for obj in self.objects.values():
            for child, _prefix, _deps in obj.includes:
                if child in self.objects:
                    self.objects[child].included = True
        if slots is None:
            return [s for s, o in self.objects.items() if not o.included]
        known = [s for s in slots if s in self.objects]
        if outermost:
            return [s for s in known if not self.objects[s].included] or known
        return known

    def entries(self, roots: list[str]) -> list[Entry]:
        out: list[Entry] = []
        seen: set[tuple[str, ...]] = set()
        for slot in roots:
            self._walk_object(slot, "", [], out, seen, depth=0)
        return out

    def _walk_object(self, slot: str, prefix: str, deps: list[Ref], out: list[Entry],
                     seen: set[tuple[str, ...]], depth: int) -> None:  # fmt: skip
        obj = self.objects[slot]
        if depth > 16:
            return
        base = prefix + obj.prefix
        deps = [*deps, *obj.dependencies]
        for methods, path, endpoint, route_deps in obj.routes:
            handler = self._callable(endpoint)
            if handler is None:
                continue
            for method in methods:
                full = (base + path) or "/"
                key = ("route", method, full, handler[0])
                if key in seen:
                    continue
                seen.add(key)
                entry = Entry(f"{method} {full}", [], method=method, path=full,
                              handler=handler[0])  # fmt: skip
                entry.roots = self._with_dependencies(handler, [*deps, *route_deps])
                out.append(entry)
        for child, child_prefix, include_deps in obj.includes:
            if child in self.objects and child != slot:
                self._walk_object(child, base + child_prefix, [*deps, *include_deps], out,
                                  seen, depth + 1)  # fmt: skip
        self._other_entries(slot, obj, out, seen)

    def _other_entries(self, slot: str, obj: _Object, out: list[Entry],
                       seen: set[tuple[str, ...]]) -> None:  # fmt: skip
        for ref in obj.middleware:
            self._add(out, seen, "middleware", ref, "request")
        for ref in obj.middleware_classes:
            value = self.r.value(ref)
            if value is None or value[0] != "class":
                continue
            for name in ("dispatch", "__call__"):
                method = self.r.method(value[1], name)
                if method is not None:
                    self._add(out, seen, "middleware", ("g", method.replace(":", ".")),
                              "request")  # fmt: skip
                    break
        for ref in obj.handlers:
            self._add(out, seen, "exception handler", ref, "request")
        for ref in obj.lifespan:
            self._add(out, seen, "lifespan", ref, "once")
        for ref, file, line in obj.events:
            entry = self._add(out, seen, "lifespan", ref, "once", sync_on_loop=True)
            if entry is not None and line:
                entry.deprecated.append((file, line))
            elif line:
                out.append(Entry("lifespan", [], deprecated=[(file, line)]))

    def _add(self, out: list[Entry], seen: set[tuple[str, ...]], name: str, ref: Ref,
             mode: Mode, *, sync_on_loop: bool = False) -> Entry | None:  # fmt: skip
        handler = self._callable(ref)
        if handler is None:
            return None
        key = (name, handler[0])
        if key in seen:
            return None
        seen.add(key)
        key_, is_async, _owner = handler
        entry = Entry(name, [Root(key_, is_async or sync_on_loop, mode)])
        out.append(entry)
        return entry

    def _callable(self, ref: Ref) -> tuple[str, bool, str | None] | None:
        """The function a registered callable runs: (key, is async, owning class key)."""
        value = self.r.value(ref)
        while value is not None and value[0] == "partial":
            value = value[1]
        if value is None:
            return None
        if value[0] == "func":
            func = self.r.func(value[1])
            return None if func is None else (func.key, func.is_async, None)
        if value[0] == "class":
            init = self.r.method(value[1], "__init__")
            func = None if init is None else self.r.func(init)
            if func is None:
                return (value[1], False, value[1])
            return (func.key, False, value[1])
        if value[0] == "pobj":
            call = self.r.method(value[1], "__call__")
            func = None if call is None else self.r.func(call)
            return None if func is None else (func.key, func.is_async, None)
        return None

    def _with_dependencies(self, handler: tuple[str, bool, str | None],
                           extra: list[Ref]) -> list[Root]:  # fmt: skip
        roots: list[Root] = []
        seen: set[str] = set()

        def add(target: tuple[str, bool, str | None], depth: int) -> None:
            key, is_async, owner = target
            if key in seen or depth > 12:
                return
            seen.add(key)
            roots.append(Root(key, is_async, "request", owner))
            func = self.r.func(key)
            for dep in self.param_dependencies(func) if func else ():
                found = self._callable(dep)
                if found is not None:
                    add(found, depth + 1)

        for ref in extra:
            dep = self.depends_target(ref, None)
            found = None if dep is None else self._callable(dep)
            if found is not None:
                add(found, 1)
        add(handler, 0)
        # The handler first: it names the route; dependencies follow in order.
        handler_root = next(r for r in roots if r.key == handler[0])
        roots.remove(handler_root)
        return [handler_root, *roots]

    def depends_target(self, ref: Ref, annotation: Ref) -> Ref:
        """``x`` for ``Depends(x)``; the annotation's type for a bare ``Depends()``."""
        if ref is None or ref[0] != "call":
            return None
        callee = self.r.value(ref[1])
        if callee is None or callee[0] != "ext" or callee[1] not in DEPENDS:
            return None
        args, kwargs = ref[2], dict(ref[3])
        target = args[0] if args else kwargs.get("dependency")
        return target if target is not None else annotation

    def param_dependencies(self, func: Func) -> list[Ref]:
        out: list[Ref] = []
        for param in func.params:
            annotation = param.annotation
            annotated = self._annotated(annotation)
            if annotated is not None:
                base_type, metadata = annotated
                for item in metadata:
                    dep = self.depends_target(item, base_type)
                    if dep is not None:
                        out.append(dep)
                annotation = base_type
            dep = self.depends_target(param.default, annotation)
            if dep is not None:
                out.append(dep)
        return out

    def _annotated(self, ref: Ref, depth: int = 0) -> tuple[Ref, list[Ref]] | None:
        if ref is None or depth > 6:
            return None
        if ref[0] == "sub":
            base: Value = self.r.value(ref[1])
            if base is not None and base[0] == "ext" and base[1] in ANNOTATED:
                items = ref[2][1] if ref[2] and ref[2][0] == "list" else (ref[2],)
                return (items[0] if items else None), list(items[1:])
            return None
        if ref[0] == "g":
            summary, name = self.r.global_slot(ref[1])
            if summary is not None and name is not None:
                for value in summary.globals.get(name, ()):
                    found = self._annotated(value, depth + 1)
                    if found is not None:
                        return found
        return None


_REGISTRATIONS: Final = frozenset({
    "include_router", "mount", "add_api_route", "add_route", "add_middleware",
    "add_exception_handler", "add_event_handler",
})  # fmt: skip
