"""The project around the analysis: config, suppression, the cache, files that do not parse."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from poise.doctor.project import DoctorConfig, DoctorError
from poise.doctor.run import diagnose
from tests.doctor.conftest import WriteProject, audit, found

APP = """
    import time

    from fastapi import FastAPI

    app = FastAPI()


    @app.get("/")
    async def index() -> str:
        time.sleep(1)
        time.sleep(2)  # poise: ignore[PSE101]
        time.sleep(3)  # poise: ignore
        time.sleep(4)  # poise: ignore[PSE102]
        return "ok"


    @app.get("/sync")
    def sync_index() -> str:
        return "ok"
"""


def test_suppression_comments(write_project: WriteProject) -> None:
    report = audit(write_project({"app.py": APP}))
    assert found(report) == {
        ("PSE101", "app.py", 10, "GET /"),
        ("PSE101", "app.py", 13, "GET /"),  # ignoring another rule does not hide this one
        ("PSE108", "app.py", 18, "GET /sync"),
    }


def test_severity_override_and_off(write_project: WriteProject) -> None:
    root = write_project({
        "app.py": APP,
        "pyproject.toml": """
            [tool.poise.doctor]
            severity = { PSE101 = "warning", PSE108 = "off" }
        """,
    })  # fmt: skip
    report = audit(root)
    assert {(f.rule, f.severity) for f in report.findings} == {("PSE101", "warning")}


def test_ignored_paths_and_extra_sinks(write_project: WriteProject) -> None:
    root = write_project({
        "app.py": """
            from fastapi import FastAPI

            from legacy_sdk import client
            from scripts.tool import run

            app = FastAPI()


            @app.get("/")
            async def index() -> str:
                run()
                return client.fetch("x")
        """,
        "scripts/__init__.py": "",
        "scripts/tool.py": "import time\n\n\ndef run():\n    time.sleep(1)\n",
        "pyproject.toml": """
            [tool.poise.doctor]
            ignore = ["scripts/*"]

            [tool.poise.doctor.sinks.blocking]
            "legacy_sdk.client.fetch" = { what = "legacy HTTP fetch" }
        """,
    })  # fmt: skip
    report = audit(root)
    assert found(report) == {("PSE101", "app.py", 12, "GET /")}
    assert report.findings[0].message.startswith("legacy HTTP fetch")


def test_project_function_named_like_a_sink_is_not_one(write_project: WriteProject) -> None:
    """Extra sinks name third-party code: the project's own functions are analysed instead."""
    root = write_project({
        "app.py": """
            from fastapi import FastAPI

            from legacy.client import fetch

            app = FastAPI()


            @app.get("/")
            async def index() -> str:
                return fetch("x")
        """,
        "legacy/__init__.py": "",
        "legacy/client.py": "def fetch(x):\n    return x\n",
    })  # fmt: skip
    assert audit(root).findings == []


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"colour": 1}, r"unknown key\(s\) colour"),
        ({"ignore": "x"}, "ignore must be a list of glob strings"),
        ({"severity": {"PSE999": "off"}}, "unknown rule 'PSE999'"),
        ({"pool_budget": 0}, "pool_budget must be a positive integer, got 0"),
        ({"sinks": {"nope": {}}}, "sinks must be tables named"),
    ],
)
def test_bad_config_is_named(table: dict[str, object], message: str) -> None:
    with pytest.raises(DoctorError, match=message):
        DoctorConfig.from_table(table)


def test_a_file_that_does_not_parse_is_noted_not_fatal(write_project: WriteProject) -> None:
    root = write_project({"app.py": APP, "broken.py": "def half(:\n"})
    report = audit(root)
    assert ("PSE101", "app.py", 10, "GET /") in found(report)
    assert any(note.startswith("not analysed: broken.py: SyntaxError") for note in report.notes)


def test_a_directory_without_any_app_is_a_usage_error(write_project: WriteProject) -> None:
    """A wrong target in CI must not pass silently as "no findings"."""
    root = write_project({"lib.py": "import time\n\n\ndef f():\n    time.sleep(1)\n"})
    with pytest.raises(DoctorError, match="no FastAPI or Starlette app or router found"):
        audit(root)


def test_an_app_without_entry_points_is_a_note(write_project: WriteProject) -> None:
    report = audit(write_project({"app.py": "from fastapi import FastAPI\n\napp = FastAPI()\n"}))
    assert report.findings == []
    assert "no FastAPI or Starlette entry points found" in report.notes[-1]


def test_cache_is_written_and_keyed_by_content(write_project: WriteProject, tmp_path: Path) -> None:
    root = write_project({"app.py": APP, "other.py": "X = 1\n"})
    cache = tmp_path / "cache"
    first = diagnose(str(root), cwd=root, cache_dir=cache)
    second = diagnose(str(root), cwd=root, cache_dir=cache)
    assert [f.to_dict() for f in first.findings] == [f.to_dict() for f in second.findings]
    assert any(cache.rglob("*"))
    changed = textwrap.dedent(APP).lstrip("\n").replace("time.sleep(1)", "pass")
    (root / "app.py").write_text(changed, encoding="utf-8")
    third = diagnose(str(root), cwd=root, cache_dir=cache)
    assert ("PSE101", "app.py", 10, "GET /") not in found(third)
    assert ("PSE101", "app.py", 13, "GET /") in found(third)  # the file was parsed again


def test_unwritable_cache_still_audits(write_project: WriteProject, tmp_path: Path) -> None:
    root = write_project({"app.py": APP})
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    report = diagnose(str(root), cwd=root, cache_dir=blocker / "cache")
    assert ("PSE101", "app.py", 10, "GET /") in found(report)


def test_internal_errors_cost_one_entry_not_the_audit(
    write_project: WriteProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in the walk of one entry point is named in the notes; the rest is reported."""
    from poise.doctor import analysis

    original = analysis.Analyzer._root

    def flaky(self: analysis.Analyzer, entry: str, root: object, background: object) -> object:
        if entry == "GET /sync":
            raise RuntimeError("boom")
        return original(self, entry, root, background)  # type: ignore[arg-type]

    monkeypatch.setattr(analysis.Analyzer, "_root", flaky)
    report = audit(write_project({"app.py": APP}))
    assert ("PSE101", "app.py", 10, "GET /") in found(report)
    assert not any(f.entry == "GET /sync" for f in report.findings)
    assert (
        "internal error, skipped (please report it): GET /sync (app:sync_index): RuntimeError: boom"
    ) in report.notes


def test_self_referencing_imports_terminate(write_project: WriteProject) -> None:
    """A package importing itself under its own name (seen in the wild) must not recurse."""
    root = write_project({
        "app.py": APP,
        "loop/__init__.py": "from loop import loop\nfrom . import loop as again\n",
        "uses.py": "from loop import loop\n\nloop.loop.loop.loop()\n",
    })  # fmt: skip
    report = audit(root)
    assert ("PSE101", "app.py", 10, "GET /") in found(report)
    assert not any("internal error" in note for note in report.notes)


ROUTER_APP = """
    import time

    from fastapi import APIRouter, FastAPI

    app = FastAPI()
    router = APIRouter()


    @router.get("/x")
    async def x() -> None:
        time.sleep(1)


    app.include_router(router, prefix="/v1")
"""


def test_a_file_target_walks_an_included_router_under_its_prefix_only(
    write_project: WriteProject,
) -> None:
    """A router the file's app includes is not also reported as a root of its own."""
    root = write_project({"app.py": ROUTER_APP})
    for target in ("app.py", "app:app", "."):
        report = audit(root, target)
        assert {f.entry for f in report.findings} == {"GET /v1/x"}, target
        assert [r.path for r in report.routes] == ["/v1/x"], target


def test_a_src_layout_file_target_reports_paths_from_the_project_root(
    write_project: WriteProject,
) -> None:
    root = write_project({
        "pyproject.toml": '[tool.poise.doctor]\nignore = ["src/myapp/legacy.py"]\n',
        "src/myapp/__init__.py": "",
        "src/myapp/main.py": """
            from fastapi import FastAPI

            from myapp import legacy, tools

            app = FastAPI()


            @app.get("/")
            async def index() -> None:
                tools.wait()
                legacy.old()
        """,
        "src/myapp/tools.py": "import time\n\n\ndef wait() -> None:\n    time.sleep(1)\n",
        "src/myapp/legacy.py": "import time\n\n\ndef old() -> None:\n    time.sleep(2)\n",
    })  # fmt: skip
    for target in ("src/myapp/main.py", "src", "."):
        report = audit(root, target)
        assert found(report) == {("PSE101", "src/myapp/tools.py", 5, "GET /")}, target


ORDERS = """
    import time

    from fastapi import APIRouter

    router = APIRouter()


    @router.post("/")
    async def create() -> dict[str, str]:
        time.sleep(0.1)
        return {"status": "created"}
"""


@pytest.mark.parametrize(
    ("files", "handler"),
    [
        pytest.param(
            {"src/shop/__init__.py": "", "src/shop/api/__init__.py": "",
             "src/shop/main.py": "from shop.api import orders\n",
             "src/shop/api/orders.py": ORDERS},
            "shop.api.orders:create", id="src layout",
        ),
        pytest.param(
            {"src/__init__.py": "", "src/api/__init__.py": "",
             "src/main.py": "from src.api import orders\n", "src/api/orders.py": ORDERS},
            "src.api.orders:create", id="src as a package",
        ),
        pytest.param(
            {"src/api/__init__.py": "", "src/main.py": "from src.api import orders\n",
             "src/api/orders.py": ORDERS},
            "api.orders:create", id="src as a namespace package",
        ),
    ],
)  # fmt: skip
def test_a_src_layout_is_read_once(
    write_project: WriteProject, files: dict[str, str], handler: str
) -> None:
    """Regression: a directory target loaded src/pkg/x.py as both ``src.pkg.x`` and
    ``pkg.x``, and its routes appeared twice, the copy without its router's prefix
    (``POST /``); one real project gave 576 routes for 286."""
    main = next(name for name in files if name.endswith("main.py"))
    files[main] = files[main] + (
        "from fastapi import FastAPI\n\napp = FastAPI()\n"
        'app.include_router(orders.router, prefix="/orders")\n'
    )
    report = audit(write_project(files))
    routes = [(r.method, r.path, r.handler) for r in report.routes]
    assert routes == [("POST", "/orders/", handler)]
    assert [(f.rule, f.entry) for f in report.findings] == [("PSE101", "POST /orders/")]


NEWER = """
    import time

    from fastapi import FastAPI

    type Handler = dict[str, str]
    type Pair[T] = tuple[T, T]


    class Box[T: (int, str)]:
        def __init__(self, value: T) -> None:
            self.value = value


    def first[T](items: list[T]) -> T:
        return items[0]


    app = FastAPI()


    @app.get("/")
    async def index() -> Handler:
        try:
            time.sleep(0.1)
        except ValueError, TypeError:
            pass
        return {"status": "ok"}
"""


def test_newer_syntax_is_read_not_dropped(write_project: WriteProject) -> None:
    """Regression: files using 3.12-3.14 syntax (``type X = ...``, ``class C[T]``,
    ``except A, B:``) failed the host interpreter's parser and became a quiet note (66
    files of one project), their routes and findings gone."""
    report = audit(write_project({"app.py": NEWER}))
    assert ("PSE101", "app.py", 24, "GET /") in found(report)
    assert not any(note.startswith("not analysed") for note in report.notes)


def test_rewrite_keeps_lines_and_leaves_other_code_alone() -> None:
    from poise.doctor.summary import rewrite_newer_syntax

    source = textwrap.dedent(NEWER)
    rewritten = rewrite_newer_syntax(source)
    assert rewritten.count("\n") == source.count("\n")
    assert "except (ValueError, TypeError):" in rewritten
    assert "class Box:" in rewritten
    assert "def first(items: list[T]) -> T:" in rewritten
    assert "Pair = tuple[T, T]" in rewritten
    plain = "type = 5\nexcept_all = 1\nx = [type for type in y]\n"
    assert rewrite_newer_syntax(plain) == plain


def test_a_file_target_that_does_not_parse_says_so(write_project: WriteProject) -> None:
    """Regression: a file with a plain syntax error gave "no FastAPI or Starlette app
    found" instead of the error."""
    root = write_project({"app.py": "from fastapi import FastAPI\napp = FastAPI(\n"})
    with pytest.raises(DoctorError, match=r"app\.py: does not parse: SyntaxError"):
        audit(root, str(root / "app.py"))


def test_a_directory_without_an_app_names_the_files_that_do_not_parse(
    write_project: WriteProject,
) -> None:
    root = write_project({"app.py": "from fastapi import FastAPI\napp = FastAPI(\n"})
    with pytest.raises(DoctorError, match=r"1 file\(s\) do not parse, the first: app\.py"):
        audit(root)
