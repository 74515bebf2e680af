from __future__ import annotations

import os

import pytest

from otel_import_tracer.config import (
    COLLECTOR_CHOICES,
    DEFAULT_ROOT,
    ENABLE_IMPORT_TRACING,
    IMPORT_TRACING_COLLECTOR,
    IMPORT_TRACING_REPORT,
    IMPORT_TRACING_ROOT,
    IMPORT_TRACING_SHUTDOWN_TIMEOUT,
    IMPORT_TRACING_SPANS,
    Config,
)

# Nothing here depends on the collector: the per-collector reruns skip it (scripts/test.sh).
pytestmark = pytest.mark.collector_independent


def test_defaults_when_nothing_is_set(capsys: pytest.CaptureFixture[str]) -> None:
    config = Config.from_environ({})
    assert config == Config(enabled=False, root=DEFAULT_ROOT, collector="auto", spans=True, report=None)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("value", ["true", "TRUE", "True", " true "])
def test_enable_accepts_true_in_any_case(value: str) -> None:
    assert Config.from_environ({ENABLE_IMPORT_TRACING: value}).enabled


@pytest.mark.parametrize("value", ["false", "FALSE", "False", ""])
def test_enable_false_or_empty_disables_quietly(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert not Config.from_environ({ENABLE_IMPORT_TRACING: value}).enabled
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("value", ["1", "yes", "on", "enabled", "tru"])
def test_enable_other_values_warn_once_and_stay_off(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(3):
        assert not Config.from_environ({ENABLE_IMPORT_TRACING: value}).enabled
    err = capsys.readouterr().err
    assert err.count("warning") == 1
    assert ENABLE_IMPORT_TRACING in err and repr(value) in err and "'true' or 'false'" in err


@pytest.mark.parametrize(
    "name, value, field, expected, accepted",
    [
        (IMPORT_TRACING_COLLECTOR, "ptrace", "collector", "auto", ", ".join(COLLECTOR_CHOICES)),
        (IMPORT_TRACING_SPANS, "maybe", "spans", True, "'true' or 'false'"),
        (IMPORT_TRACING_SHUTDOWN_TIMEOUT, "soon", "shutdown_timeout", 3.0, "number of seconds"),
        (IMPORT_TRACING_SHUTDOWN_TIMEOUT, "-1", "shutdown_timeout", 3.0, "number of seconds"),
        (IMPORT_TRACING_SHUTDOWN_TIMEOUT, "nan", "shutdown_timeout", 3.0, "number of seconds"),
        (IMPORT_TRACING_SHUTDOWN_TIMEOUT, "inf", "shutdown_timeout", 3.0, "number of seconds"),
    ],
)
def test_bad_values_warn_naming_variable_and_accepted_values(
    name: str, value: str, field: str, expected: object, accepted: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = Config.from_environ({ENABLE_IMPORT_TRACING: "true", name: value})
    assert getattr(config, field) == expected
    assert config.enabled
    err = capsys.readouterr().err
    assert name in err and accepted in err and err.count("\n") == 1


@pytest.mark.parametrize("value", COLLECTOR_CHOICES)
def test_every_collector_choice_is_accepted(value: str) -> None:
    assert Config.from_environ({IMPORT_TRACING_COLLECTOR: value.upper()}).collector == value


def test_root_is_made_absolute_and_report_pid_is_filled(tmp_path: os.PathLike) -> None:
    config = Config.from_environ({IMPORT_TRACING_ROOT: "src/", IMPORT_TRACING_REPORT: "/tmp/r-{pid}.json"})
    assert config.root == os.path.join(os.getcwd(), "src")
    assert config.report_path(pid=42) == "/tmp/r-42.json"
    assert config.report_path() == f"/tmp/r-{os.getpid()}.json"
    assert Config().report_path() is None


def test_a_root_with_surrounding_spaces_or_a_tilde_is_the_directory_meant(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "src").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path))
    assert Config.from_environ({IMPORT_TRACING_ROOT: f"  {tmp_path / 'src'} \n"}).root == str(tmp_path / "src")
    assert Config.from_environ({IMPORT_TRACING_ROOT: "~/src"}).root == str(tmp_path / "src")


def test_a_huge_shutdown_timeout_is_capped_with_one_warning(capsys: pytest.CaptureFixture[str]) -> None:
    config = Config.from_environ({IMPORT_TRACING_SHUTDOWN_TIMEOUT: "1e10"})
    assert config.shutdown_timeout == 3600
    err = capsys.readouterr().err
    assert err.count(IMPORT_TRACING_SHUTDOWN_TIMEOUT) == 1 and "3600" in err


def test_the_filesystem_root_as_root_is_refused_with_one_warning(capsys: pytest.CaptureFixture[str]) -> None:
    from otel_import_tracer.tracing import TracingSession

    assert TracingSession(Config(enabled=True, root="/")).start() is False
    err = capsys.readouterr().err
    assert err.count("filesystem root") == 1 and IMPORT_TRACING_ROOT in err
