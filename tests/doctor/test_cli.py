"""``poise doctor`` as a command: formats, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from poise.cli import main
from tests.doctor.conftest import WriteProject, doctor_command

BLOCKING_APP = """
    import time

    from fastapi import FastAPI

    app = FastAPI()


    @app.get("/slow")
    async def slow() -> dict[str, str]:
        time.sleep(0.05)
        return {"status": "ok"}


    @app.get("/files")
    async def files() -> str:
        with open("/etc/hostname") as f:
            return f.read()
"""


def doctor(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        doctor_command(*args, "--no-cache"),
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture
def project(write_project: WriteProject) -> Path:
    return write_project({"main.py": BLOCKING_APP})


def test_json_contract(project: Path) -> None:
    result = doctor("main:app", "--format", "json", cwd=project)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert set(report) >= {"poise_version", "target", "findings", "routes", "probe"}
    assert report["target"] == "main:app"
    assert report["probe"] is None
    sleep = next(f for f in report["findings"] if f["rule"] == "PSE101")
    assert sleep == sleep | {
        "severity": "error", "file": "main.py", "line": 10, "col": 5, "route": "GET /slow",
        "sink": "time.sleep",
    }  # fmt: skip
    assert sleep["chain"] == [{"function": "main:slow", "file": "main.py", "line": 9}]
    assert sleep["fix"]
    assert set(sleep) >= {"rule", "severity", "message", "file", "line", "col", "route",
                          "chain", "fix"}  # fmt: skip
    routes = {(r["method"], r["path"]) for r in report["routes"]}
    assert routes == {("GET", "/slow"), ("GET", "/files")}


@pytest.mark.parametrize(
    ("fail_on", "code"),
    [("error", 1), ("warning", 1), ("info", 1), ("never", 0)],
)
def test_fail_on(project: Path, fail_on: str, code: int) -> None:
    assert doctor("main.py", "--fail-on", fail_on, cwd=project).returncode == code


def test_fail_on_counts_only_severe_enough(write_project: WriteProject) -> None:
    root = write_project({"main.py": """
        from fastapi import FastAPI

        app = FastAPI()


        @app.get("/")
        async def read() -> str:
            with open("/etc/hostname") as f:
                return f.read()
    """})  # fmt: skip
    assert doctor("main.py", cwd=root).returncode == 0  # a warning, under --fail-on error
    assert doctor("main.py", "--fail-on", "warning", cwd=root).returncode == 1


def test_text_shows_chain_fix_and_summary(project: Path) -> None:
    result = doctor(".", cwd=project)
    assert result.returncode == 1
    out = result.stdout
    assert "GET /slow -> slow (main.py:9) -> time.sleep (main.py:10)" in out
    assert "fix: " in out
    assert "1 error(s), 2 warning(s), 0 info" in out


def test_output_file(project: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    result = doctor(".", "--format", "html", "-o", str(target), cwd=project)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "<title>poise doctor" in target.read_text()


def test_unwritable_output_exits_2_with_one_line(project: Path, tmp_path: Path) -> None:
    result = doctor(".", "--format", "json", "-o", str(tmp_path / "no" / "such" / "r.json"),
                    cwd=project)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "cannot write" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("missing.py", "missing.py: no such file or directory"),
        ("nomodule:app", "cannot find module 'nomodule'"),
        ("main:nothing", "'nothing' in main is not a FastAPI or Starlette app"),
        ("not a target", "no such file or directory"),
        ("", "no target given"),
        ("empty", "empty: no FastAPI or Starlette app or router found"),
    ],
)
def test_bad_target_exits_2_with_one_line(project: Path, target: str, reason: str) -> None:
    (project / "empty").mkdir()
    (project / "empty" / "lib.py").write_text("X = 1\n")
    result = doctor(target, cwd=project)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert reason in result.stderr
    assert "Traceback" not in result.stderr


def test_probe_import_failure_exits_2(write_project: WriteProject) -> None:
    root = write_project({"broken.py": """
        from fastapi import FastAPI

        import a_module_that_is_not_installed

        app = FastAPI()
    """})  # fmt: skip
    result = doctor("broken:app", "--probe", cwd=root)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "poise doctor: cannot import broken: ModuleNotFoundError: "
        "No module named 'a_module_that_is_not_installed'"
    )


def test_bad_config_exits_2(write_project: WriteProject) -> None:
    root = write_project({
        "main.py": BLOCKING_APP,
        "pyproject.toml": '[tool.poise.doctor]\nseverity = { PSE101 = "fatal" }\n',
    })  # fmt: skip
    result = doctor("main.py", cwd=root)
    assert result.returncode == 2
    assert "severity.PSE101 = 'fatal'; accepted: error, warning, info, off" in result.stderr


def test_click_help_names_formats() -> None:
    result = CliRunner().invoke(main, ["doctor", "--help"])
    assert result.exit_code == 0
    assert "text|json|sarif|html" in result.output
    assert "error|warning|info|never" in result.output
