"""What a name or expression in the project refers to, across modules.

Summaries keep expressions symbolic (:data:`poise.doctor.summary.Ref`); this module
turns one into a :data:`Value`: a project function, class, module or instance, a
third-party name (``("ext", "requests.Session.get")``), or ``None`` when it cannot
be known statically. Results are memoised: the same reference is asked about from
every entry point that reaches it.
"""

from __future__ import annotations

from typing import Any, Final

from poise.doctor.catalog import Catalog
from poise.doctor.project import Project
from poise.doctor.summary import MODULE_FUNC, ClassInfo, Func, ModuleSummary, Ref

__all__ = ["Resolver", "Value"]

# ("mod", name) | ("func", key) | ("class", key) | ("ext", dotted) | ("pobj", class key)
# | ("eobj", dotted type) | ("partial", Value, bound keywords) | ("super", class key)
# | ("lit", Ref) | None
Value = tuple[Any, ...] | None

_MAX_DEPTH: Final = 48
_ANNOTATED: Final = frozenset({"typing.Annotated", "typing_extensions.Annotated"})
_OPTIONAL: Final = frozenset({"typing.Optional", "typing.Union", "typing_extensions.Optional"})
_PATH_TYPES: Final = frozenset({"pathlib.Path", "pathlib.PurePath", "pathlib.PosixPath",
                                "pathlib.WindowsPath"})  # fmt: skip
_PATH_PROPERTIES: Final = frozenset({"parent"})
_LITERALS: Final = frozenset({"str", "str?", "int", "none", "bool", "list", "dict"})


class Resolver:
    """Resolves references against the project's modules and the sink catalog."""

    def __init__(self, project: Project, catalog: Catalog) -> None:
        self.project = project
        self.catalog = catalog
        self._memo: dict[Ref, Value] = {}
        self._globals: dict[str, Value] = {}
        self._active: set[Any] = set()

    # -- project symbols -----------------------------------------------------------

    def func(self, key: str) -> Func | None:
        module, _, qualname = key.partition(":")
        summary = self.project.module(module)
        return None if summary is None else summary.functions.get(qualname)

    def cls(self, key: str) -> ClassInfo | None:
        module, _, qualname = key.partition(":")
        summary = self.project.module(module)
        return None if summary is None else summary.classes.get(qualname)

    def module_of(self, key: str) -> ModuleSummary | None:
        return self.project.module(key.partition(":")[0])

    def mro(self, class_key: str) -> list[ClassInfo]:
        """The class and its project base classes, depth first (good enough for lookup)."""
        out: list[ClassInfo] = []
        todo = [class_key]
        seen: set[str] = set()
        while todo and len(out) < 32:
            key = todo.pop(0)
            if key in seen:
                continue
            seen.add(key)
            info = self.cls(key)
            if info is None:
                continue
            out.append(info)
            for base in info.bases:
                value = self.value(base)
                if value is not None and value[0] == "class":
                    todo.append(value[1])
        return out

    def method(self, class_key: str, name: str) -> str | None:
        """The key of method ``name`` on the class (or a project base), if any."""
        for info in self.mro(class_key):
            if name in info.methods:
                return f"{info.module}:{info.qualname}.{name}"
        return None

    def external_bases(self, class_key: str) -> list[str]:
        """Dotted names of the third-party classes the class derives from."""
        out = []
        for info in self.mro(class_key):
            for base in info.bases:
                value = self.value(base)
                if value is not None and value[0] == "ext":
                    out.append(value[1])
        return out

    # -- references -----------------------------------------------------------------

    def value(self, ref: Ref) -> Value:
        """What ``ref`` refers to, or ``None`` when that cannot be known statically."""
        if ref is None:
            return None
        try:
            return self._memo[ref]
        except KeyError:
            pass
        except TypeError:  # an unhashable literal slipped in: not a name anyway
            return None
        if ref in self._active or len(self._active) > _MAX_DEPTH:
            return None
        self._active.add(ref)
        try:
            result = self._value(ref)
        finally:
            self._active.discard(ref)
        self._memo[ref] = result
        return result

    def _value(self, ref: tuple[Any, ...]) -> Value:
        tag = ref[0]
        if tag == "g":
            return self.global_value(ref[1])
        if tag == "l":
            func = self.func(ref[1])
            if func is None:
                return None
            return self.first(func.locals.get(ref[2], ()))
        if tag == "a":
            return self.attribute(self.value(ref[1]), ref[2])
        if tag == "call":
            return self.call_result(self.value(ref[1]), ref)
        if tag == "inst":
            return self.instance_of(ref[1])
        if tag == "self":
            return ("pobj", ref[1])
        if tag == "super":
            return ("super", ref[1])
        if tag == "div":
            left = self.value(ref[1])
            if left is not None and left[0] == "eobj" and left[1] in _PATH_TYPES:
                return left
            return None
        if tag in _LITERALS:
            return ("lit", ref)
        return None

    def first(self, refs: Any) -> Value:
        for ref in refs:
            value = self.value(ref)
            if value is not None:
                return value
        return None

    def global_value(self, dotted: str) -> Value:
        try:
            return self._globals[dotted]
        except KeyError:
            pass
        if dotted in self._active or len(self._active) > _MAX_DEPTH or len(dotted) > 512:
            return None
        self._active.add(dotted)
        try:
            result = self._global_value(dotted)
        finally:
            self._active.discard(dotted)
        self._globals[dotted] = result
        return result

    def _global_value(self, dotted: str) -> Value:
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):
            summary = self.project.module(".".join(parts[:cut]))
            if summary is not None:
                return self.in_module(summary, parts[cut:])
        return ("ext", self.catalog.canonical(dotted))

    def in_module(self, summary: ModuleSummary, rest: list[str]) -> Value:
        if not rest:
            return ("mod", summary.name)
        for cut in range(len(rest), 0, -1):
            qualname = ".".join(rest[:cut])
            if qualname in summary.functions and qualname != MODULE_FUNC:
                return self.attributes(("func", f"{summary.name}:{qualname}"), rest[cut:])
            if qualname in summary.classes:
                return self.attributes(("class", f"{summary.name}:{qualname}"), rest[cut:])
        name = rest[0]
        if name in summary.globals:
            return self.attributes(self.first(summary.globals[name]), rest[1:])
        if name in summary.imports:
            return self.global_value(".".join([summary.imports[name], *rest[1:]]))
        for star in summary.star_imports:
            found = self.global_value(".".join([star, *rest]))
            if found is not None and not (found[0] == "ext" and self.project.module(star)):
                return found
        return None

    def attributes(self, value: Value, names: list[str]) -> Value:
        for name in names:
            value = self.attribute(value, name)
        return value

    def attribute(self, base: Value, name: str) -> Value:
        if base is None:
            return None
        tag = base[0]
        if tag == "super":  # the next class in the MRO that has it
            for info in self.mro(base[1])[1:]:
                if name in info.methods:
                    return ("func", f"{info.module}:{info.qualname}.{name}")
            return None
        if tag == "mod":
            return self.global_value(f"{base[1]}.{name}")
        if tag in ("class", "pobj"):
            method = self.method(base[1], name)
            if method is not None:
                return ("func", method)
            for info in self.mro(base[1]):
                if name in info.attrs:
                    return self.first(info.attrs[name])
            for external in self.external_bases(base[1]):
                return ("ext", f"{external}.{name}")
            return None
        if tag == "eobj" and base[1] in _PATH_TYPES and name in _PATH_PROPERTIES:
            return ("eobj", "pathlib.Path")
        if tag in ("ext", "eobj"):
            return ("ext", self.catalog.canonical(f"{base[1]}.{name}"))
        return None

    def call_result(self, callee: Value, ref: tuple[Any, ...]) -> Value:
        if callee is None:
            return None
        tag = callee[0]
        if tag == "class":
            return ("pobj", callee[1])
        if tag == "func":
            func = self.func(callee[1])
            return None if func is None else self.first(func.returns)
        if tag == "ext":
            name = callee[1]
            if name == "functools.partial" and ref[2]:
                inner = self.value(ref[2][0])
                # The keywords bound now count as given when it is called (timeout=).
                return None if inner is None else ("partial", inner, ref[3])
            typed = self.catalog.types.get(name)
            if typed is not None:
                return ("eobj", typed)
            last = name.rsplit(".", 1)[-1]
            return ("eobj", name) if last[:1].isupper() else None
        if tag == "eobj":
            typed = self.catalog.types.get(f"{callee[1]}.__call__")
            return None if typed is None else ("eobj", typed)
        if tag == "pobj":
            method = self.method(callee[1], "__call__")
            func = None if method is None else self.func(method)
            return None if func is None else self.first(func.returns)
        if tag == "partial":
            return self.call_result(callee[1], ("call", None, (), ()))
        return None

    def instance_of(self, type_ref: Ref) -> Value:
        if type_ref is None:
            return None
        if type_ref[0] == "union":
            return self.instance_of(type_ref[1]) or self.instance_of(type_ref[2])
        if type_ref[0] == "sub":
            base = self.value(type_ref[1])
            items = type_ref[2][1] if type_ref[2] and type_ref[2][0] == "list" else (type_ref[2],)
            if (
                base is not None
                and base[0] == "ext"
                and (base[1] in _ANNOTATED or base[1] in _OPTIONAL)
            ):
                return self.first_instance(items)
            type_ref = type_ref[1]
        if type_ref is None or type_ref[0] == "none":
            return None
        if type_ref[0] == "g":  # an alias: ``SessionDep = Annotated[Session, Depends(...)]``
            summary, name = self.global_slot(type_ref[1])
            if summary is not None and name is not None:
                for alias in summary.globals.get(name, ()):
                    if alias is not None and alias[0] in ("sub", "union"):
                        return self.instance_of(alias)
        value = self.value(type_ref)
        if value is None:
            return None
        if value[0] == "class":
            return ("pobj", value[1])
        if value[0] == "ext":
            return ("eobj", value[1])
        return None

    def first_instance(self, refs: Any) -> Value:
        for ref in refs:
            value = self.instance_of(ref)
            if value is not None:
                return value
        return None

    def literal(self, ref: Ref, depth: int = 0) -> Ref:
        """``ref`` followed through names to the literal it was assigned, if any."""
        if ref is None or depth > 8:
            return None
        if ref[0] in _LITERALS:
            return ref
        if ref[0] == "g":
            summary, name = self.global_slot(ref[1])
            if summary is not None and name is not None:
                for candidate in summary.globals.get(name, ()):
                    found = self.literal(candidate, depth + 1)
                    if found is not None:
                        return found
            return None
        if ref[0] == "l":
            func = self.func(ref[1])
            for candidate in func.locals.get(ref[2], ()) if func else ():
                found = self.literal(candidate, depth + 1)
                if found is not None:
                    return found
        return None

    def global_slot(self, dotted: str, depth: int = 0) -> tuple[ModuleSummary | None, str | None]:
        """The module and global variable name that ``dotted`` finally names."""
        if depth > 16:
            return None, None
        parts = dotted.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            summary = self.project.module(".".join(parts[:cut]))
            if summary is None:
                continue
            rest = parts[cut:]
            if len(rest) == 1 and rest[0] in summary.globals:
                return summary, rest[0]
            if rest[0] in summary.imports:
                target = ".".join([summary.imports[rest[0]], *rest[1:]])
                return self.global_slot(target, depth + 1)
            return None, None
        return None, None

    def hint(self, ref: Ref, depth: int = 0) -> str | None:
        """The last name an argument's value came through (``body`` in ``await req.body()``)."""
        if ref is None or depth > 6:
            return None
        tag = ref[0]
        if tag == "call":
            return self.hint(ref[1], depth + 1)
        if tag == "a":
            return str(ref[2])
        if tag == "l":
            func = self.func(ref[1])
            for candidate in func.locals.get(ref[2], ()) if func else ():
                found = self.hint(candidate, depth + 1)
                if found is not None:
                    return found
        if tag == "g":
            return str(ref[1]).rsplit(".", 1)[-1]
        return None
