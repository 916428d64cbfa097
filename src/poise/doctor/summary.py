"""One module's syntax, boiled down to what the analysis needs; parsed once, cached.

A module is parsed and walked a single time into a :class:`ModuleSummary`: its imports,
globals, classes and functions, and for each function its parameters, local variables
and the calls it makes. Expressions are kept as small nested tuples (:data:`Ref`),
symbolic rather than resolved, because what a name means may live in another module
that is not loaded yet. The summary depends only on the file's text and module name,
so it is cached on disk by content hash (:mod:`poise.doctor.project`).

The encoding of an expression (``Ref``):

``("g", "pkg.mod.name")``
    a global name, fully qualified through the module's imports (``builtins.open``).
``("l", "pkg.mod:func", "name")``
    a local variable (or parameter) of a function; its values are in ``Func.locals``.
``("a", base, "attr")``, ``("call", func, args, kwargs)``, ``("sub", base, index)``
    attribute, call (``kwargs``: ``(name | None, Ref)`` pairs), subscript.
``("inst", type_ref)``
    an instance of a type (from an annotation); ``("self", "pkg.mod:Class")``: ``self``;
    ``("super", "pkg.mod:Class")``: ``super()`` in a method of that class.
``("str", s)``, ``("int", n)``, ``("none",)``, ``("list", items)``, ``("dict", keys, values)``
    literals; ``("div", left)`` a ``/`` (pathlib), ``("union", a, b)`` an ``X | Y``.
``None``
    anything else.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["SUMMARY_VERSION", "Call", "ClassInfo", "Func", "ModuleSummary", "Param", "Ref",
           "summarize"]  # fmt: skip

# Bump when the summary's shape or meaning changes: it is part of the cache key.
SUMMARY_VERSION: Final = 6  # 6: newer syntax (3.12-3.14) is read, not an error

Ref = tuple[Any, ...] | None

MODULE_FUNC: Final = "<module>"
_BUILTINS: Final = frozenset(dir(builtins))
_TYPE_CHECKING: Final = frozenset({"TYPE_CHECKING", "typing.TYPE_CHECKING"})
_IGNORE: Final = re.compile(r"#\s*poise:\s*ignore(?:\[([A-Za-z0-9_,\s]*)\])?")
# Literal containers longer than this are cut: nothing in them matters past a few items.
_MAX_ITEMS: Final = 64
_MAX_STR: Final = 300


@dataclass(slots=True)
class Call:
    """A call a function makes: where, and what (``ref`` is a ``("call", ...)`` Ref)."""

    line: int
    col: int
    ref: tuple[Any, ...]


@dataclass(slots=True)
class Param:
    name: str
    annotation: Ref
    default: Ref


@dataclass(slots=True)
class Func:
    """A function, method, lambda or the module body itself (qualname ``<module>``)."""

    module: str
    qualname: str
    line: int
    is_async: bool
    is_generator: bool = False
    cls: str | None = None
    static: bool = False
    decorators: list[tuple[int, Ref]] = field(default_factory=list)
    params: list[Param] = field(default_factory=list)
    locals: dict[str, list[Ref]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    returns: list[Ref] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.module}:{self.qualname}"

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]


@dataclass(slots=True)
class ClassInfo:
    module: str
    qualname: str
    line: int
    bases: list[Ref] = field(default_factory=list)
    methods: set[str] = field(default_factory=set)
    # Class-level assignments and ``self.x = ...`` in any method, by attribute name.
    attrs: dict[str, list[Ref]] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.module}:{self.qualname}"


@dataclass(slots=True)
class ModuleSummary:
    name: str
    path: str
    is_package: bool
    lines: int
    imports: dict[str, str] = field(default_factory=dict)
    star_imports: list[str] = field(default_factory=list)
    globals: dict[str, list[Ref]] = field(default_factory=dict)
    functions: dict[str, Func] = field(default_factory=dict)
    classes: dict[str, ClassInfo] = field(default_factory=dict)
    # line -> rule ids suppressed there (empty: every rule)
    suppressed: dict[int, frozenset[str]] = field(default_factory=dict)
    syntax_error: str | None = None


def summarize(source: str, *, module: str, path: str, is_package: bool) -> ModuleSummary:
    """Parse ``source`` (the text of ``module``) into its summary.

    A file that does not parse gives an empty summary carrying ``syntax_error``: one bad
    file must not stop the audit of the rest.
    """
    summary = ModuleSummary(module, path, is_package, source.count("\n") + 1)
    for number, text in enumerate(source.splitlines(), start=1):
        if "poise" in text and (match := _IGNORE.search(text)):
            rules = match[1]
            summary.suppressed[number] = (
                frozenset() if rules is None
                else frozenset(r.strip().upper() for r in rules.split(",") if r.strip())
            )  # fmt: skip
    try:
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError) as exc:
        # Newer syntax than this interpreter reads (3.12's `type X = ...` and generic
        # `class C[T]`, 3.14's `except A, B:`): rewritten line by line into what it
        # reads, same lines and names, and parsed again. Anything else stays an error.
        rewritten = rewrite_newer_syntax(source)
        try:
            if rewritten == source:
                raise exc
            tree = ast.parse(rewritten, filename=path)
        except (SyntaxError, ValueError):
            summary.syntax_error = f"{type(exc).__name__}: {exc}"
            return summary
    _Summarizer(summary).module(tree)
    return summary


_EXCEPT_LIST: Final = re.compile(
    r"^(?P<head>\s*except\*?\s+)(?P<types>[^():#]+,[^():#]+?)(?P<tail>\s*):"
)
_TYPE_ALIAS: Final = re.compile(r"^(?P<indent>\s*)type\s+(?P<name>[A-Za-z_]\w*)\s*(?P<params>\[)?")
_GENERIC: Final = re.compile(r"^(?P<head>\s*(?:async\s+)?(?:def|class)\s+[A-Za-z_]\w*)\[")


def rewrite_newer_syntax(source: str) -> str:
    """``source`` with the newer-syntax forms a 3.11 parser refuses rewritten into ones
    it reads, each on its own line (line numbers and names stay):

    - ``except A, B:`` (3.14) -> ``except (A, B):``;
    - ``type Alias[T] = ...`` (3.12) -> ``Alias = ...``;
    - ``def f[T](...)``, ``class C[T](...)`` (3.12) -> without the type parameters.
    """
    lines = source.split("\n")
    for index, line in enumerate(lines):
        if (match := _EXCEPT_LIST.match(line)) and " as " not in match["types"]:
            lines[index] = (
                f"{match['head']}({match['types'].strip()}){match['tail']}:" + line[match.end() :]
            )
        elif alias := _TYPE_ALIAS.match(line):
            after: str | None = line[alias.end() :]
            if alias["params"] and after is not None:
                after = _after_brackets(after)
            if after is None:
                continue
            after = after.lstrip()
            if after.startswith("=") and not after.startswith("=="):
                lines[index] = f"{alias['indent']}{alias['name']} {after}"
        elif generic := _GENERIC.match(line):
            tail = _after_brackets(line[generic.end() :])
            if tail is not None:
                lines[index] = generic["head"] + tail
    return "\n".join(lines)


def _after_brackets(text: str) -> str | None:
    """What follows the ``]`` closing a bracket already opened before ``text``."""
    depth = 1
    for position, char in enumerate(text):
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
            if depth == 0:
                return text[position + 1 :]
    return None


def _names_bound(body: list[ast.stmt]) -> set[str]:
    """Names a function body binds (so they are local), not looking into nested scopes."""
    bound: set[str] = set()
    todo: list[ast.AST] = list(body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
            todo.extend(node.decorator_list)
            continue
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            bound.add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                bound.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            continue
        todo.extend(ast.iter_child_nodes(node))
    return bound


class _Scope:
    """A function being summarised: its record and the names local to it."""

    def __init__(self, func: Func, local_names: set[str], parent: _Scope | None) -> None:
        self.func = func
        self.local_names = local_names
        self.parent = parent
        # nested def/class name -> its fully qualified global name
        self.nested: dict[str, str] = {}


class _Summarizer:
    def __init__(self, summary: ModuleSummary) -> None:
        self.s = summary
        self.module_names: set[str] = set()
        self.lambdas = 0

    # -- names ---------------------------------------------------------------------

    def qualify_import(self, module: str | None, level: int) -> str:
        if level == 0:
            return module or ""
        parts = self.s.name.split(".")
        package = parts if self.s.is_package else parts[:-1]
        base = package[: len(package) - (level - 1)] if level > 1 else package
        return ".".join([*base, module] if module else base)

    def name_ref(self, name: str, scope: _Scope | None) -> Ref:
        cur = scope
        while cur is not None and cur.func.qualname != MODULE_FUNC:
            if name in cur.nested:
                return ("g", cur.nested[name])
            if name in cur.local_names:
                return ("l", cur.func.key, name)
            cur = cur.parent
        if name in self.s.imports:
            return ("g", self.s.imports[name])
        if name in self.module_names:
            return ("g", f"{self.s.name}.{name}")
        if name in _BUILTINS:
            return ("g", f"builtins.{name}")
        if self.s.star_imports:
            return ("g", f"{self.s.name}.{name}")
        return None

    # -- expressions ---------------------------------------------------------------

    def enc(self, node: ast.expr | None, scope: _Scope | None) -> Ref:
        if node is None:
            return None
        if isinstance(node, ast.Name):
            return self.name_ref(node.id, scope)
        if isinstance(node, ast.Attribute):
            return ("a", self.enc(node.value, scope), node.attr)
        if isinstance(node, ast.Call):
            if (
                isinstance(node.func, ast.Name) and node.func.id == "super" and not node.args
                and scope is not None and scope.func.cls is not None
            ):  # fmt: skip
                return ("super", f"{self.s.name}:{scope.func.cls}")
            args = tuple(
                ("star",) if isinstance(a, ast.Starred) else self.enc(a, scope)
                for a in node.args[:_MAX_ITEMS]
            )
            kwargs = tuple((k.arg, self.enc(k.value, scope)) for k in node.keywords)
            return ("call", self.enc(node.func, scope), args, kwargs)
        if isinstance(node, ast.Await):
            return self.enc(node.value, scope)
        if isinstance(node, ast.Constant):
            value = node.value
            if value is None:
                return ("none",)
            if isinstance(value, bool):
                return ("bool", value)
            if isinstance(value, int):
                return ("int", value)
            if isinstance(value, str):
                return ("str", value) if len(value) <= _MAX_STR else ("str?",)
            return None
        if isinstance(node, ast.JoinedStr):
            return ("str?",)
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            return ("list", tuple(self.enc(e, scope) for e in node.elts[:_MAX_ITEMS]))
        if isinstance(node, ast.Dict):
            keys = tuple(self.enc(k, scope) for k in node.keys[:_MAX_ITEMS])
            values = tuple(self.enc(v, scope) for v in node.values[:_MAX_ITEMS])
            return ("dict", keys, values)
        if isinstance(node, ast.Subscript):
            return ("sub", self.enc(node.value, scope), self.enc(node.slice, scope))
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Div):
                return ("div", self.enc(node.left, scope))
            if isinstance(node.op, ast.BitOr):
                return ("union", self.enc(node.left, scope), self.enc(node.right, scope))
            return None
        if isinstance(node, ast.Lambda):
            return ("g", self.lambda_func(node, scope))
        if isinstance(node, ast.NamedExpr):
            return self.enc(node.value, scope)
        if isinstance(node, ast.BoolOp):
            return self.enc(node.values[-1], scope)
        if isinstance(node, ast.IfExp):
            return self.enc(node.body, scope)
        return None

    # -- statements ----------------------------------------------------------------

    def module(self, tree: ast.Module) -> None:
        for node in self.top_level(tree.body):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                self.module_names.add(node.name)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                self.record_import(node, None)
            else:
                for target in self.assigned_targets(node):
                    self.module_names.update(_target_names(target))
        body = Func(self.s.name, MODULE_FUNC, 1, is_async=False)
        self.s.functions[MODULE_FUNC] = body
        scope = _Scope(body, set(), None)
        self.block(tree.body, scope, cls=None)

    def top_level(self, body: list[ast.stmt]) -> list[ast.stmt]:
        """Module-level statements, looking into if/try/with blocks (not TYPE_CHECKING)."""
        out: list[ast.stmt] = []
        for node in body:
            if isinstance(node, ast.If):
                if not self.is_type_checking(node.test):
                    out.extend(self.top_level(node.body))
                out.extend(self.top_level(node.orelse))
            elif isinstance(node, ast.Try):
                for part in (node.body, node.orelse, node.finalbody):
                    out.extend(self.top_level(part))
                for handler in node.handlers:
                    out.extend(self.top_level(handler.body))
            elif isinstance(node, ast.With):
                out.extend(self.top_level(node.body))
            else:
                out.append(node)
        return out

    @staticmethod
    def assigned_targets(node: ast.stmt) -> list[ast.expr]:
        if isinstance(node, ast.Assign):
            return list(node.targets)
        if isinstance(node, ast.AnnAssign | ast.AugAssign):
            return [node.target]
        if isinstance(node, ast.For | ast.AsyncFor):
            return [node.target]
        return []

    def record_import(self, node: ast.Import | ast.ImportFrom, scope: _Scope | None) -> None:
        bindings: list[tuple[str, str]] = []
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bindings.append((alias.asname, alias.name))
                else:
                    top = alias.name.split(".")[0]
                    bindings.append((top, top))
        else:
            base = self.qualify_import(node.module, node.level)
            for alias in node.names:
                if alias.name == "*":
                    if scope is None:
                        self.s.star_imports.append(base)
                    continue
                full = f"{base}.{alias.name}" if base else alias.name
                bindings.append((alias.asname or alias.name, full))
        for local, full in bindings:
            if scope is None or scope.func.qualname == MODULE_FUNC:
                self.s.imports[local] = full
            else:
                scope.func.locals.setdefault(local, []).append(("g", full))

    def is_type_checking(self, test: ast.expr) -> bool:
        if isinstance(test, ast.Name):
            return test.id == "TYPE_CHECKING"
        if isinstance(test, ast.Attribute):
            return test.attr == "TYPE_CHECKING"
        return False

    def block(self, body: list[ast.stmt], scope: _Scope, cls: ClassInfo | None) -> None:
        for node in body:
            self.statement(node, scope, cls)

    def statement(self, node: ast.stmt, scope: _Scope, cls: ClassInfo | None) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            self.function(node, scope, cls)
            return
        if isinstance(node, ast.ClassDef):
            self.class_def(node, scope)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            if scope.func.qualname != MODULE_FUNC or cls is not None:
                self.record_import(node, scope)
            return
        if isinstance(node, ast.If) and self.is_type_checking(node.test):
            self.block(node.orelse, scope, cls)
            return
        # Assignments and with-targets first: they give variables their types.
        self.bindings(node, scope, cls)
        # Calls in this statement, not in nested statements (visited on their own).
        for child in _own_expressions(node):
            self.calls_in(child, scope)
        if isinstance(node, ast.Return) and node.value is not None:
            scope.func.returns.append(self.enc(node.value, scope))
        for nested in _nested_blocks(node):
            self.block(nested, scope, cls)
        if isinstance(node, ast.Try | ast.TryStar):
            for handler in node.handlers:
                self.block(handler.body, scope, cls)
        if isinstance(node, ast.Match):
            for case in node.cases:
                self.block(case.body, scope, cls)

    def bindings(self, node: ast.stmt, scope: _Scope, cls: ClassInfo | None) -> None:
        value: ast.expr | None = None
        targets: list[ast.expr] = []
        annotation: ast.expr | None = None
        if isinstance(node, ast.Assign):
            value, targets = node.value, list(node.targets)
        elif isinstance(node, ast.AnnAssign):
            value, targets, annotation = node.value, [node.target], node.annotation
        elif isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                if item.optional_vars is not None:
                    self.bind(item.optional_vars, self.enc(item.context_expr, scope), scope, cls)
            return
        elif isinstance(node, ast.For | ast.AsyncFor):
            # A loop over a literal binds its target to each element in turn.
            if isinstance(node.iter, ast.Tuple | ast.List | ast.Set):
                for element in node.iter.elts[:_MAX_ITEMS]:
                    self.bind(node.target, self.enc(element, scope), scope, cls)
            return
        else:
            return
        ref = self.enc(value, scope) if value is not None else None
        if annotation is not None:
            ann = self.enc(annotation, scope)
            for target in targets:
                self.bind(target, ("inst", ann), scope, cls)
        if value is None:
            return
        for target in targets:
            if isinstance(target, ast.Tuple | ast.List) and isinstance(value, ast.Tuple | ast.List):
                for t, v in zip(target.elts, value.elts, strict=False):
                    self.bind(t, self.enc(v, scope), scope, cls)
            else:
                self.bind(target, ref, scope, cls)

    def bind(self, target: ast.expr, ref: Ref, scope: _Scope, cls: ClassInfo | None) -> None:
        if ref is None:
            return
        if isinstance(target, ast.Name):
            if scope.func.qualname == MODULE_FUNC:
                if cls is not None:
                    cls.attrs.setdefault(target.id, []).append(ref)
                else:
                    self.s.globals.setdefault(target.id, []).append(ref)
            else:
                scope.func.locals.setdefault(target.id, []).append(ref)
        elif (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and scope.func.cls is not None
            and scope.func.params
            and target.value.id == scope.func.params[0].name
        ):
            owner = self.s.classes.get(scope.func.cls)
            if owner is not None:
                owner.attrs.setdefault(target.attr, []).append(ref)

    def calls_in(self, node: ast.AST, scope: _Scope) -> None:
        todo: list[ast.AST] = [node]
        while todo:
            current = todo.pop()
            if isinstance(current, ast.Lambda):
                continue  # its own function, made when the lambda is encoded
            if isinstance(current, ast.Call):
                ref = self.enc(current, scope)
                if ref is not None and ref[0] == "call":  # not super(): it calls nothing
                    scope.func.calls.append(Call(current.lineno, current.col_offset + 1, ref))
            if isinstance(current, ast.IfExp) and self.is_type_checking(current.test):
                todo.append(current.orelse)
                continue
            todo.extend(ast.iter_child_nodes(current))

    def function(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, parent: _Scope,
        cls: ClassInfo | None, *, qualname: str | None = None,
    ) -> Func:  # fmt: skip
        if qualname is None:
            assert not isinstance(node, ast.Lambda)
            prefix = cls.qualname if cls is not None else (
                "" if parent.func.qualname == MODULE_FUNC else parent.func.qualname
            )  # fmt: skip
            qualname = f"{prefix}.{node.name}" if prefix else node.name
        body: list[ast.stmt] = node.body if isinstance(node.body, list) else [ast.Return(node.body)]
        local_names = _names_bound(body) | {a.arg for a in _all_args(node.args)}
        func = Func(
            self.s.name, qualname, node.lineno,
            is_async=isinstance(node, ast.AsyncFunctionDef),
            cls=cls.qualname if cls is not None else None,
        )  # fmt: skip
        func.is_generator = _is_generator(body)
        self.s.functions[qualname] = func
        if cls is not None:
            cls.methods.add(qualname.rsplit(".", 1)[-1])
        if parent.func.qualname != MODULE_FUNC and cls is None and not isinstance(node, ast.Lambda):
            parent.nested[node.name] = f"{self.s.name}.{qualname}"
        scope = _Scope(func, local_names, parent)
        if not isinstance(node, ast.Lambda):
            for decorator in node.decorator_list:
                ref = self.enc(decorator, parent)
                func.decorators.append((decorator.lineno, ref))
                if ref in (("g", "builtins.staticmethod"),):
                    func.static = True
            if node.returns is not None:
                func.returns.append(("inst", self.enc(node.returns, parent)))
        args = node.args
        positional = [*args.posonlyargs, *args.args]
        defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
        defaults += list(args.defaults)
        pairs = [*zip(positional, defaults, strict=True), *zip(args.kwonlyargs, args.kw_defaults,
                 strict=True)]  # fmt: skip
        for index, (arg, default) in enumerate(pairs):
            ann = self.enc(arg.annotation, parent) if arg.annotation is not None else None
            func.params.append(Param(arg.arg, ann, self.enc(default, parent)))
            if index == 0 and cls is not None and not func.static:
                func.locals.setdefault(arg.arg, []).append(("self", cls.key))
            elif ann is not None:
                func.locals.setdefault(arg.arg, []).append(("inst", ann))
        self.block(body, scope, None)
        return func

    def lambda_func(self, node: ast.Lambda, scope: _Scope | None) -> str:
        self.lambdas += 1
        parent = scope or _Scope(self.s.functions[MODULE_FUNC], set(), None)
        owner = "" if parent.func.qualname == MODULE_FUNC else f"{parent.func.qualname}."
        qualname = f"{owner}<lambda{self.lambdas}>"
        self.function(node, parent, None, qualname=qualname)
        return f"{self.s.name}.{qualname}"

    def class_def(self, node: ast.ClassDef, parent: _Scope) -> None:
        outer = "" if parent.func.qualname == MODULE_FUNC else f"{parent.func.qualname}."
        info = ClassInfo(self.s.name, f"{outer}{node.name}", node.lineno)
        info.bases = [self.enc(base, parent) for base in node.bases]
        self.s.classes[info.qualname] = info
        if outer:
            parent.nested[node.name] = f"{self.s.name}.{info.qualname}"
        for decorator in node.decorator_list:
            self.calls_in(decorator, parent)
        class_scope = _Scope(parent.func, set(), parent.parent)
        for stmt in node.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                self.function(stmt, parent, info)
            elif isinstance(stmt, ast.ClassDef):
                self.class_def(stmt, parent)
            elif isinstance(stmt, ast.Assign | ast.AnnAssign):
                value = stmt.value
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for target in targets:
                    if not isinstance(target, ast.Name):
                        continue
                    if isinstance(stmt, ast.AnnAssign):
                        ann = ("inst", self.enc(stmt.annotation, class_scope))
                        info.attrs.setdefault(target.id, []).append(ann)
                    if value is not None:
                        info.attrs.setdefault(target.id, []).append(self.enc(value, class_scope))


def _all_args(args: ast.arguments) -> list[ast.arg]:
    out = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    if args.vararg:
        out.append(args.vararg)
    if args.kwarg:
        out.append(args.kwarg)
    return out


def _is_generator(body: list[ast.stmt]) -> bool:
    todo: list[ast.AST] = list(body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Yield | ast.YieldFrom):
            return True
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        todo.extend(ast.iter_child_nodes(node))
    return False


def _target_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Tuple | ast.List):
        return [n for elt in target.elts for n in _target_names(elt)]
    return []


# Statement fields holding nested statement lists (walked as blocks of their own).
_BLOCK_FIELDS: Final = ("body", "orelse", "finalbody")


def _nested_blocks(node: ast.stmt) -> list[list[ast.stmt]]:
    if isinstance(node, ast.If | ast.For | ast.AsyncFor | ast.While | ast.With | ast.AsyncWith
                  | ast.Try | ast.TryStar):  # fmt: skip
        return [getattr(node, f) for f in _BLOCK_FIELDS if getattr(node, f, None)]
    return []


def _own_expressions(node: ast.stmt) -> list[ast.AST]:
    """The expressions a statement evaluates itself (not those of nested statements)."""
    if isinstance(node, ast.If | ast.While):
        return [node.test]
    if isinstance(node, ast.For | ast.AsyncFor):
        return [node.iter]
    if isinstance(node, ast.With | ast.AsyncWith):
        return [item.context_expr for item in node.items]
    if isinstance(node, ast.Try | ast.TryStar):
        return [h.type for h in node.handlers if h.type is not None]
    if isinstance(node, ast.Match):
        return [node.subject]
    return [child for child in ast.iter_child_nodes(node) if isinstance(child, ast.expr)]
