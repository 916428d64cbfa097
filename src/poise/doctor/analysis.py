"""The call graph walk: from each entry point through the project's code to the sinks.

Each function is walked once per context (on the loop or in a thread; per request,
once, or in a background task) and what it reaches is memoised, so a helper shared by
a hundred routes costs one walk. Where a call runs decides which rule applies: the
same ``open()`` is PSE102 on the loop, PSE101 in an async background task, PSE106 in
a sync one, info when it runs once at start-up, and nothing in the thread pool.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Final

from poise.doctor.catalog import Catalog, Handoff, Sink
from poise.doctor.entries import Entry, Mode, Root
from poise.doctor.model import ChainLink, Finding
from poise.doctor.resolve import Resolver, Value
from poise.doctor.rules import RULES, Severity
from poise.doctor.summary import MODULE_FUNC, Call, Func, ModuleSummary

__all__ = ["Analyzer"]

_SINK_RULES: Final = {"blocking": "PSE101", "filesystem": "PSE102", "cpu": "PSE103"}
# Calls that register handlers rather than call them: their function arguments are not
# callbacks run in place.
_REGISTRATIONS: Final = frozenset({
    "add_api_route", "add_route", "include_router", "add_middleware", "add_exception_handler",
    "add_event_handler", "api_route", "get", "post", "put", "patch", "delete", "middleware",
    "exception_handler", "on_event", "Depends", "Security",
})  # fmt: skip
_BINDERS: Final = frozenset({"functools.partial", "functools.partialmethod"})
_LOOP_METHODS: Final = frozenset({"run_until_complete", "run_forever"})


@dataclass(frozen=True, slots=True)
class _Hit:
    """A finding below some function, before its entry point and chain head are known."""

    rule: str
    severity: Severity
    message: str
    file: str
    line: int
    col: int
    chain: tuple[ChainLink, ...]
    sink: str | None = None


_Walk = tuple[tuple[_Hit, ...], tuple[tuple[str, str, int], ...]]


class Analyzer:
    """Walks entry points and turns what they reach into findings."""

    def __init__(self, resolver: Resolver, catalog: Catalog, *, pool_budget: int) -> None:
        self.r = resolver
        self.catalog = catalog
        self.pool_budget = pool_budget
        self._memo: dict[tuple[str, bool, Mode], _Walk] = {}
        self._active: set[tuple[str, bool, Mode]] = set()
        self._wrappers: dict[str, bool] = {}
        # Entry points the walk failed on: skipped and named in the report.
        self.errors: list[str] = []

    # -- entry points ------------------------------------------------------------------

    def findings(self, entries: list[Entry], modules: list[str]) -> list[Finding]:
        """Findings of ``entries``, and of the import-time code of ``modules``.

        Import-time code runs once, before serving: only timeouts (PSE105) and pool
        sizes (PSE110) matter there.
        """
        out: list[Finding] = []
        background: dict[str, tuple[str, int]] = {}
        for module in modules:
            root = Root(f"{module}:{MODULE_FUNC}", False, "import")
            out.extend(self._safe_root("module", root, background))
        for entry in entries:
            for file, line in entry.deprecated:
                out.append(self._finding("PSE107", RULES["PSE107"].severity,
                           "on_event handler: deprecated, use a lifespan", file, line, 1,
                           entry.name, ()))  # fmt: skip
            for root in entry.roots:
                out.extend(self._safe_root(entry.name, root, background))
        done: set[str] = set()
        while background.keys() - done:
            for key in sorted(background.keys() - done):
                done.add(key)
                func = self.r.func(key)
                if func is not None:
                    root = Root(key, func.is_async, "bg")
                    out.extend(self._safe_root("background", root, background))
        return out

    def _safe_root(self, entry: str, root: Root, background: dict[str, tuple[str, int]]
                   ) -> list[Finding]:  # fmt: skip
        try:
            return self._root(entry, root, background)
        except Exception as exc:  # a bug must cost one entry point, not the audit
            self.errors.append(f"{entry} ({root.key}): {type(exc).__name__}: {exc}")
            return []

    def _root(self, entry: str, root: Root, background: dict[str, tuple[str, int]]
              ) -> list[Finding]:  # fmt: skip
        func = self.r.func(root.key)
        if func is None:
            if root.owner is not None and entry.startswith(tuple(_ROUTE_METHODS)):
                info = self.r.cls(root.owner)
                module = self.r.module_of(root.owner)
                if info is not None and module is not None:
                    return [self._sync_jump(entry, module.path, info.line, root.owner)]
            return []
        module = self.r.module_of(root.key)
        assert module is not None
        head = ChainLink(_display(func), module.path, func.line)
        out: list[Finding] = []
        if not root.on_loop and root.mode == "request" and " /" in entry:
            out.append(self._sync_jump(entry, module.path, func.line, func.key))
        hits, spawned = self.walk(root.key, root.on_loop, root.mode)
        for key, file, line in spawned:
            background.setdefault(key, (file, line))
        for hit in hits:
            out.append(self._finding(hit.rule, hit.severity, hit.message, hit.file, hit.line,
                                     hit.col, entry, (head, *hit.chain), hit.sink))  # fmt: skip
        return out

    def _sync_jump(self, entry: str, file: str, line: int, name: str) -> Finding:
        return self._finding(
            "PSE108", "info",
            f"sync def `{name.rsplit(':', 1)[-1]}` runs in the thread pool: a thread hand-off "
            "per request",
            file, line, 1, entry, (),
        )  # fmt: skip

    def _finding(self, rule: str, severity: Severity, message: str, file: str, line: int,
                 col: int, entry: str, chain: tuple[ChainLink, ...],
                 sink: str | None = None) -> Finding:  # fmt: skip
        return Finding(rule, severity, message, file, line, col, entry, chain, RULES[rule].fix,
                       sink=sink)  # fmt: skip

    # -- the walk -----------------------------------------------------------------------

    def walk(self, key: str, on_loop: bool, mode: Mode) -> _Walk:
        """What calling function ``key`` reaches, in this context (memoised)."""
        state = (key, on_loop, mode)
        memo = self._memo.get(state)
        if memo is not None:
            return memo
        if state in self._active:
            return (), ()
        self._active.add(state)
        try:
            result = self._walk(key, on_loop, mode)
        finally:
            self._active.discard(state)
        self._memo[state] = result
        return result

    def _walk(self, key: str, on_loop: bool, mode: Mode) -> _Walk:
        func = self.r.func(key)
        module = self.r.module_of(key)
        if func is None or module is None:
            return (), ()
        hits: dict[tuple[str, str, int, int], _Hit] = {}
        spawned: dict[str, tuple[str, str, int]] = {}
        for call in func.calls:
            self._call(func, module, call, on_loop, mode, hits, spawned)
        return tuple(hits.values()), tuple(spawned.values())

    def _call(self, func: Func, module: ModuleSummary, call: Call, on_loop: bool, mode: Mode,
              hits: dict[tuple[str, str, int, int], _Hit],
              spawned: dict[str, tuple[str, str, int]]) -> None:  # fmt: skip
        _, callee_ref, args, kwargs = call.ref
        callee = self.r.value(callee_ref)
        while callee is not None and callee[0] == "partial":
            # Calling a partial calls what it wraps, with the keywords bound in it.
            kwargs = (*callee[2], *kwargs)
            callee = callee[1]
            call = Call(call.line, call.col, ("call", callee_ref, args, kwargs))
        method = callee_ref[2] if callee_ref is not None and callee_ref[0] == "a" else None

        handoff = self._handoff(callee, method)
        if handoff is not None:
            target = args[handoff.arg] if len(args) > handoff.arg else None
            if target is None:
                target = dict(kwargs).get(handoff.keyword)
            for key in self._functions(self.r.value(target)):
                if handoff.kind == "background":
                    spawned.setdefault(key, (key, module.path, call.line))
                else:
                    self._follow(key, False, mode, module, call, hits, spawned)
            return

        if callee is not None and callee[0] == "ext":
            for sink in self.catalog.lookup(callee[1]):
                self._sink(sink, call, module, on_loop, mode, hits, callee[1])
            self._pool(callee[1], self.catalog.pools.get(callee[1]), call, module, hits)
        elif callee is None and method in _LOOP_METHODS and on_loop:
            sink = Sink(f"loop.{method}", "event_loop", f"loop.{method}")
            self._sink(sink, call, module, on_loop, mode, hits)

        for key in self._functions(callee):
            target = self.r.func(key)
            if target is None:
                continue
            if self._pool_wrapper(target):
                self._pool(_display(target), tuple(self.catalog.pool_keywords), call, module, hits)
            next_mode: Mode = "once" if mode == "request" and self._cached(target) else mode
            self._follow(key, on_loop, next_mode, module, call, hits, spawned)

        if mode == "import":
            return  # module code hands functions to apps and decorators, never runs them
        if callee is not None and callee[0] == "ext" and callee[1] in _BINDERS:
            return  # partial() binds a function for later; whoever calls it decides where
        if method in _REGISTRATIONS or (
            callee is not None
            and callee[0] == "ext"
            and callee[1].rsplit(".", 1)[-1] in _REGISTRATIONS
        ):
            return  # fmt: skip
        # Functions handed to another call are assumed to be called by it, in place.
        for ref in (*args, *(v for _, v in kwargs)):
            if ref is None or ref[0] not in ("g", "l", "a"):
                continue
            for key in self._functions(self.r.value(ref)):
                target = self.r.func(key)
                cached = target is not None and mode == "request" and self._cached(target)
                self._follow(key, on_loop, "once" if cached else mode, module, call, hits,
                             spawned)  # fmt: skip

    def _follow(self, key: str, on_loop: bool, mode: Mode, module: ModuleSummary, call: Call,
                hits: dict[tuple[str, str, int, int], _Hit],
                spawned: dict[str, tuple[str, str, int]]) -> None:  # fmt: skip
        target = self.r.func(key)
        if target is None:
            return
        sub_hits, sub_spawned = self.walk(key, on_loop, mode)
        link = ChainLink(_display(target), module.path, call.line)
        for hit in sub_hits:
            where = (hit.rule, hit.file, hit.line, hit.col)
            known = hits.get(where)
            if known is None or len(known.chain) > len(hit.chain) + 1:
                hits[where] = replace(hit, chain=(link, *hit.chain))
        for spawned_key, file, line in sub_spawned:
            spawned.setdefault(spawned_key, (spawned_key, file, line))

    def _functions(self, value: Value) -> list[str]:
        """The project functions calling ``value`` runs (class: its ``__init__``)."""
        while value is not None and value[0] == "partial":
            value = value[1]
        if value is None:
            return []
        if value[0] == "func":
            return [value[1]]
        if value[0] == "class":
            init = self.r.method(value[1], "__init__")
            return [] if init is None else [init]
        if value[0] == "pobj":
            call = self.r.method(value[1], "__call__")
            return [] if call is None else [call]
        return []

    def _handoff(self, callee: Value, method: str | None) -> Handoff | None:
        if callee is not None and callee[0] == "ext":
            name = callee[1]
            found = self.catalog.offload.get(name) or self.catalog.background.get(name)
            if found is not None:
                return found
            method = name.rsplit(".", 1)[-1]
        if method is None or (callee is not None and callee[0] == "func"):
            return None
        return self.catalog.offload_methods.get(method) or self.catalog.background_methods.get(
            method
        )

    def _pool_wrapper(self, func: Func) -> bool:
        """Whether ``func`` takes pool-size keywords and passes them to a pool factory.

        Then its callers' literal sizes are what the pool gets (``make_engine(url,
        pool_size=200)``); a function that merely has a parameter of that name (say
        ``max_connections`` of an HTTP client's limits) is not one.
        """
        known = self._wrappers.get(func.key)
        if known is not None:
            return known
        names = {p.name for p in func.params} & self.catalog.pool_keywords
        found = False
        if names:
            for call in func.calls:
                callee = self.r.value(call.ref[1])
                if callee is None or callee[0] != "ext" or callee[1] not in self.catalog.pools:
                    continue
                passed = {v[2] for _, v in call.ref[3] if v is not None and v[0] == "l"}
                if passed & names:
                    found = True
                    break
        self._wrappers[func.key] = found
        return found

    def _cached(self, func: Func) -> bool:
        for _line, ref in func.decorators:
            target = ref[1] if ref is not None and ref[0] == "call" else ref
            value = self.r.value(target)
            decorator = value[1] if value is not None and value[0] == "ext" else None
            if decorator in self.catalog.cache_decorators:
                return True
        return False

    # -- rules ------------------------------------------------------------------------

    def _sink(self, sink: Sink, call: Call, module: ModuleSummary, on_loop: bool, mode: Mode,
              hits: dict[tuple[str, str, int, int], _Hit],
              called: str | None = None) -> None:  # fmt: skip
        _, _, args, kwargs = call.ref
        name = _short(called or sink.name)
        what = _what(sink.what, name)

        def hit(rule: str, severity: Severity, message: str) -> None:
            where = (rule, module.path, call.line, call.col)
            hits.setdefault(where, _Hit(rule, severity, message, module.path, call.line,
                                        call.col, (), name))  # fmt: skip

        if sink.kind in _SINK_RULES:
            if sink.when_arg is not None:
                first = args[0] if args else None
                if self.r.hint(first) not in sink.when_arg:
                    return
            rule = _SINK_RULES[sink.kind]
            if mode == "bg":
                if on_loop:
                    hit(
                        "PSE101",
                        "error",
                        f"{what} `{name}` in an async background task: "
                        "it runs on the event loop after the response and stalls every request",
                    )
                else:
                    hit("PSE106", "warning", f"{what} `{name}` in a sync background task: "
                        "it holds a thread-pool thread after the response; use a job queue "
                        "for heavy work")  # fmt: skip
            elif on_loop and mode == "once":
                hit(rule, "info", f"{what} `{name}` blocks the event loop, once "
                    "(start-up, shutdown or a cached result)")  # fmt: skip
            elif on_loop:
                hit(
                    rule,
                    RULES[rule].severity,
                    f"{what} `{name}` blocks the event loop in an async path",
                )
        elif sink.kind == "event_loop" and on_loop:
            hit(
                "PSE109",
                "error",
                f"`{name}` inside an async path: it starts or re-enters an event loop",
            )
        elif sink.kind == "clients" and mode == "request":
            hit("PSE104", "error", f"{what} `{name}` created per request")
        if sink.timeout is not None:
            problem = _timeout_problem(sink, args, kwargs)
            if problem is not None:
                hit("PSE105", RULES["PSE105"].severity, f"`{name}` {problem}")

    def _pool(self, name: str, keywords: tuple[str, ...] | None, call: Call,
              module: ModuleSummary, hits: dict[tuple[str, str, int, int], _Hit],
              ) -> None:  # fmt: skip
        if not keywords:
            return
        sizes = {k: v[1] for k, v in call.ref[3] if k in keywords and v is not None
                 and v[0] == "int"}  # fmt: skip
        total = sum(sizes.values())
        if total <= self.pool_budget:
            return
        parts = " + ".join(f"{k}={v}" for k, v in sizes.items())
        where = ("PSE110", module.path, call.line, call.col)
        hits.setdefault(where, _Hit(
            "PSE110", RULES["PSE110"].severity,
            f"`{_short(name)}` opens up to {total} connections per process ({parts}); "
            f"the budget is {self.pool_budget}",
            module.path, call.line, call.col, (), _short(name),
        ))  # fmt: skip


_ROUTE_METHODS: Final = ("GET ", "POST ", "PUT ", "PATCH ", "DELETE ", "HEAD ", "OPTIONS ",
                         "TRACE ", "WS ")  # fmt: skip


def _timeout_problem(sink: Sink, args: tuple[Any, ...], kwargs: tuple[Any, ...]) -> str | None:
    given = dict(kwargs)
    if None in given:
        return None  # **options may carry it
    if "timeout" in given:
        value = given["timeout"]
        return "with timeout=None: it can wait forever" if value == ("none",) else None
    if sink.timeout_pos is not None and len(args) > sink.timeout_pos:
        return "with timeout=None: it can wait forever" if args[sink.timeout_pos] == (
            "none",) else None  # fmt: skip
    if any(a == ("star",) for a in args):
        return None
    return "without a timeout: it can wait forever" if sink.timeout == "required" else None


def _display(func: Func) -> str:
    return f"{func.module}:{func.qualname}"


def _what(what: str, name: str) -> str:
    """``what`` without a trailing ``(name)`` the message repeats anyway."""
    head, sep, tail = what.rpartition(" (")
    if sep and tail.rstrip(")").split(".")[0] in name:
        return head
    return what


def _short(name: str) -> str:
    return name.removeprefix("builtins.")
