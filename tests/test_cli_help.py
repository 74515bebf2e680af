"""Every command explains itself (issue 27): `otel-import-tracer COMMAND --help`, for every
command the top-level help lists, prints a description, an example and a help text for every
option, with the default of every option that has one. Run through the real CLI.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from typing import Dict, List, Tuple

import pytest

from tests.support.servers import child_output, clean_env

pytestmark = pytest.mark.collector_independent

PROG = "otel-import-tracer"


def _help(*args: str) -> subprocess.CompletedProcess:
    env = clean_env({"COLUMNS": "100"})
    return subprocess.run([sys.executable, "-m", "otel_import_tracer", *args, "--help"], capture_output=True, text=True,
                          timeout=60, env=env)


def _parsers() -> List[Tuple[str, argparse.ArgumentParser]]:
    """The top-level parser and every command's (those the top-level help lists)."""
    from otel_import_tracer import cli

    parser = cli.build_parser()
    found = [("", parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found += sorted(action.choices.items())
    return found


COMMANDS = [name for name, _ in _parsers() if name]


def _own_part(command: str, text: str) -> str:
    # `run --help` prints what the launcher adds, then uvicorn's own help (click, not ours).
    return text.split("uvicorn's options:", 1)[0] if command == "run" else text


def _description(text: str) -> str:
    """The paragraph after the usage block."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    assert paragraphs and paragraphs[0].lower().startswith("usage:"), text
    return paragraphs[1] if len(paragraphs) > 1 else ""


def test_the_commands_are_found() -> None:
    assert {"run", "exec", "demo", "audit", "report", "diff"} <= set(COMMANDS), COMMANDS


@pytest.mark.parametrize("command", ["", *COMMANDS], ids=lambda name: name or "top-level")
def test_help_has_a_description_and_an_example(command: str) -> None:
    result = _help(*([command] if command else []))
    shown = child_output(result)
    assert result.returncode == 0, shown
    text = _own_part(command, result.stdout)
    assert text.strip(), f"--help printed nothing on stdout\n{shown}"
    description = _description(text)
    assert len(description) >= 40 and not description.rstrip().endswith(":"), f"no description\n{shown}"
    assert re.search(r"\bexamples?\b", text, re.I), f"no example\n{shown}"
    invocation = rf"^\s+(?:\S+=\S+\s+|.*\|\s*)*{PROG}\s+{re.escape(command)}\b" if command else rf"^\s+{PROG}\s+\w"
    assert re.search(invocation, text, re.M), f"no example command line ({invocation})\n{shown}"


@pytest.mark.parametrize("command,parser", _parsers(), ids=lambda value: (value or "top-level") if isinstance(value, str) else "")
def test_every_option_has_a_help_giving_its_default(command: str, parser: argparse.ArgumentParser) -> None:
    problems = []
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        name = "/".join(action.option_strings) or action.metavar or action.dest
        shown = (action.help or "") % {"default": action.default, "prog": PROG, "metavar": action.metavar, "dest": action.dest}
        if not shown.strip():
            problems.append(f"{name}: no help")
        elif action.option_strings and action.default not in (None, False, [], argparse.SUPPRESS) and \
                not isinstance(action, argparse._VersionAction):
            value = f"{action.default:g}" if isinstance(action.default, float) else str(action.default)
            if "default" not in shown or value not in shown:
                problems.append(f"{name}: its help does not give its default {value}: {shown!r}")
    assert not problems, f"{PROG} {command}: {problems}"


def test_exec_help_says_what_it_traces_and_where() -> None:
    text = _help("exec").stdout
    assert "IMPORT_TRACING_ROOT" in text and "ENABLE_IMPORT_TRACING" in text, text


def test_demo_help_gives_the_defaults_and_says_what_it_does() -> None:
    text = _help("demo").stdout
    for needle in ("127.0.0.1", "8000", "--exercise", "report"):
        assert needle in text, f"{needle!r} not in demo --help:\n{text}"
