"""Settings: typed, frozen, validated at construction, overridable from POISE_*."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from poise import Settings, SettingsError
from poise.settings import DEFAULT_BLOCK_THRESHOLD


def test_defaults() -> None:
    settings = Settings()
    assert settings.block_threshold == DEFAULT_BLOCK_THRESHOLD == 0.05
    assert settings.admin_prefix == "/_poise"
    assert settings.admin_token is None
    assert settings.recent_requests == 1000


def test_frozen_and_keyword_only() -> None:
    settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.block_threshold = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        Settings(0.1)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        pytest.param("0.1", 0.1, id="plain seconds"),
        pytest.param("100ms", 0.1, id="milliseconds"),
        pytest.param(" 2s ", 2.0, id="seconds with unit and spaces"),
        pytest.param("1500us", 0.0015, id="microseconds"),
        pytest.param("1e-2", 0.01, id="exponent"),
        pytest.param("1m", 60.0, id="a minute"),
    ],
)
def test_duration_forms(text: str, seconds: float) -> None:
    settings = Settings.from_env({"POISE_BLOCK_THRESHOLD": text})
    assert settings.block_threshold == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("name", "text", "accepted"),
    [
        pytest.param("POISE_BLOCK_THRESHOLD", "abc", "seconds (0.05)", id="not a number"),
        pytest.param("POISE_BLOCK_THRESHOLD", "-1", "seconds (0.05)", id="negative"),
        pytest.param("POISE_BLOCK_THRESHOLD", "0", "between 0.001 s and 60 s", id="zero"),
        pytest.param("POISE_BLOCK_THRESHOLD", "5h", "with a unit (50ms, 2s)", id="unknown unit"),
        pytest.param("POISE_BLOCK_THRESHOLD", "nan", "seconds", id="nan"),
        pytest.param("POISE_RECENT_REQUESTS", "1.5", "a whole number from 1", id="fraction"),
        pytest.param("POISE_RECENT_REQUESTS", "0", "a whole number from 1", id="too small"),
        pytest.param("POISE_RECENT_REQUESTS", "10000000", "to 100000", id="too big"),
        pytest.param("POISE_ADMIN_PREFIX", "_poise", "starts with '/'", id="relative"),
        pytest.param("POISE_ADMIN_PREFIX", "/_poise/", "no trailing '/'", id="trailing slash"),
        pytest.param("POISE_ADMIN_PREFIX", "/", "a URL path", id="root"),
    ],
)
def test_bad_environment_value_names_variable_value_and_form(
    name: str, text: str, accepted: str
) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({name: text})
    message = str(info.value)
    assert message.startswith(f"{name}={text!r} is not valid: expected ")
    assert accepted in message


def test_bad_token_is_rejected_without_echoing_it() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"POISE_ADMIN_TOKEN": "short secret"})
    assert "short secret" not in str(info.value)
    assert "POISE_ADMIN_TOKEN='***'" in str(info.value)
    assert "16 to 512 printable ASCII" in str(info.value)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"block_threshold": -0.5}, id="negative duration"),
        pytest.param({"block_threshold": True}, id="bool is not a duration"),
        pytest.param({"recent_requests": 2.5}, id="float count"),
        pytest.param({"admin_prefix": "/a b"}, id="space in prefix"),
        pytest.param({"admin_token": "x"}, id="short token"),
        pytest.param({"deadline_header": "X Deadline"}, id="space in header name"),
    ],
)
def test_bad_value_in_code_fails_at_construction(changes: dict[str, object]) -> None:
    field = next(iter(changes))
    with pytest.raises(SettingsError, match=rf"^Settings\.{field}=.* is not valid: expected"):
        Settings(**changes)  # type: ignore[arg-type]


def test_empty_token_variable_switches_the_token_off() -> None:
    base = Settings(admin_token="0123456789abcdef")
    assert Settings.from_env({"POISE_ADMIN_TOKEN": ""}, base=base).admin_token is None


def test_repr_masks_the_token() -> None:
    token = "0123456789abcdef-very-secret"
    settings = Settings(admin_token=token)
    assert token not in repr(settings)
    assert "admin_token='***'" in repr(settings)
    assert "admin_token=None" in repr(Settings())


def test_unknown_poise_variable_is_logged_with_a_suggestion(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="poise"):
        settings = Settings.from_env(
            {"POISE_BLOK_THRESHOLD": "1", "POISE_REQUIRE_SERVICES": "1", "HOME": "/root"}
        )
    assert settings == Settings()
    assert [r.getMessage() for r in caplog.records] == [
        "poise: ignoring unknown environment variable POISE_BLOK_THRESHOLD "
        "(did you mean POISE_BLOCK_THRESHOLD?)"
    ]


def test_replace_validates() -> None:
    assert Settings().replace(recent_requests=5).recent_requests == 5
    with pytest.raises(SettingsError):
        Settings().replace(recent_requests=0)


def test_every_setting_is_documented() -> None:
    """docs/settings.md lists every field with its variable and default."""
    text = (Path(__file__).parents[1] / "docs" / "settings.md").read_text()
    for name, env, default, _value, doc in Settings().describe():
        assert f"`{name}`" in text, name
        assert f"`{env}`" in text, env
        assert f"`{default}`" in text, default
        assert doc


@pytest.mark.parametrize("name", ["X-Request-Deadline", "x-request-deadline"])
def test_header_names_are_accepted_in_any_case(name: str) -> None:
    """Regression: the docs' own spelling, X-Request-Deadline, was refused in code."""
    assert Settings(deadline_header=name).deadline_header == name
    assert Settings.from_env({"POISE_DEADLINE_HEADER": name}).deadline_header is not None


# Values an operator does not mean, or an attacker sends through a config system: each is
# refused at start-up with the variable named, or accepted as documented (below).
HOSTILE = [
    "\u0661\u0662",  # Arabic-Indic "12": int() reads it as 12
    "\u0661.\u0665",
    "nan", "inf", "-inf", "1e309",
    "9" * 5000,
    "0x10", "1_000", "12abc", "+", "--1",
    "\x00", "/x y", "127.0.0.1.5", "::g",
]  # fmt: skip


def _accepted_as_documented(name: str, value: str, settings: Settings) -> bool:
    """The few hostile strings a field legitimately takes."""
    if name == "deadline_header":  # any HTTP header name (a token)
        return settings.deadline_header == value.strip().lower()
    return False


def _read(variable: str, value: str) -> Settings | SettingsError:
    try:
        return Settings.from_env({variable: value})
    except SettingsError as exc:
        return exc


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(Settings)])
def test_hostile_environment_values_are_refused_with_the_variable_named(name: str) -> None:
    variable = "POISE_" + name.upper()
    for value in HOSTILE:
        outcome = _read(variable, value)
        if isinstance(outcome, Settings):
            assert _accepted_as_documented(name, value, outcome), (variable, value)
            continue
        message = str(outcome)
        assert message.startswith(f"{variable}="), message
        assert len(message) < 600, "the value is cut, not echoed whole"
        assert "Exceeds the limit" not in message


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(Settings)])
@pytest.mark.parametrize("value", ["", "   "])
def test_empty_environment_values_unset_or_are_refused(name: str, value: str) -> None:
    """An empty variable switches an optional setting off (documented), or is refused."""
    variable = "POISE_" + name.upper()
    outcome = _read(variable, value)
    if isinstance(outcome, Settings):
        assert getattr(outcome, name) in (None, ()), (variable, getattr(outcome, name))
    else:
        assert str(outcome).startswith(f"{variable}=")


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("POISE_PROBE_PORT", " 8081 ", 8081),
        ("POISE_PROBE_PORT", "+8081", 8081),
        ("POISE_PROBE_HOST", "::", "::"),
        ("POISE_PROBE_HOST", "localhost", "localhost"),
        ("POISE_ADMIN_HOST", "::1", "::1"),
        ("POISE_READY_MAX_SHED", ".25", 0.25),
        ("POISE_ADMISSION_MAX_QUEUE", "007", 7),
    ],
)
def test_plain_ascii_values_are_read(variable: str, value: str, expected: object) -> None:
    settings = Settings.from_env({variable: value})
    assert getattr(settings, variable.removeprefix("POISE_").lower()) == expected


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("POISE_HEALTHZ_PATH", "/_poise/api/stats"),
        ("POISE_READYZ_PATH", "/_poise"),
        ("POISE_LIVEZ_PATH", "/_poise/livez"),
    ],
)
def test_a_health_path_under_the_admin_prefix_is_refused(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match="is under admin_prefix='/_poise'"):
        Settings.from_env({variable: value})
