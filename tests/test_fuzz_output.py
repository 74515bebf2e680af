"""What reaches a terminal or a browser, fuzzed: reports of any text and any float, audits of any file names.

The readers check a report's shape, not its strings (a module name or a message can hold
anything a JSON string can, lone surrogates included) and a hand-edited report may hold any
float; file names come from the disk. Whatever they hold, the page renders and the text
output formats, both encode as UTF-8, and nothing from the inputs arrives raw.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otel_import_tracer.reading import diff
from otel_import_tracer.reading.audit import AuditResult
from otel_import_tracer.reading.merge import Merge
from otel_import_tracer.reading.render import diff as diff_render
from otel_import_tracer.reading.render.audit import format_text
from otel_import_tracer.reading.render.page import render
from otel_import_tracer.reading.records import Process, from_document
from otel_import_tracer.report import SCHEMA, SCHEMA_VERSION

pytestmark = [pytest.mark.collector_independent, pytest.mark.python_independent]  # the reading side

# Newline is the only control character our own templates write; tab none.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
SECONDS_PER_EXAMPLE = 5.0

# Any code point, surrogates and controls included, with the hostile ones often.
anything = st.text(st.characters(blacklist_categories=()), max_size=12) | st.sampled_from(
    ["\x1b]0;title\x07", "\x1b[2J", "\r\nforged", "\ud800", "caf\udce9", "\u202e", "<script>alert(1)</script>", '"><script>', "a|b`c", "x\\|"]
)
names = st.sampled_from(["src", "src.a", "src.a.b", "src.c"]) | anything  # some importers are modules of the report
numbers = st.floats(allow_nan=True, allow_infinity=True)
durations = st.none() | numbers


@st.composite
def modules(draw: Any) -> Dict[str, Any]:
    return {
        "name": draw(names),
        "file": draw(anything),
        "offset_ms": draw(numbers),
        "duration_ms": draw(durations),
        "importer": draw(st.none() | names),
        "thread": draw(st.sampled_from(["MainThread"]) | anything),
        "preloaded": draw(st.booleans()),
        "lazy": draw(st.booleans()),
        "source": draw(anything),
    }


@st.composite
def failures(draw: Any) -> Dict[str, Any]:
    return {
        "name": draw(anything),
        "importer": draw(st.none() | names),
        "importer_file": draw(st.none() | anything),
        "line": draw(st.none() | st.integers(min_value=0)),
        "exception_type": draw(anything),
        "message": draw(anything),
        "offset_ms": draw(numbers),
        "thread": draw(anything),
        "lazy": draw(st.booleans()),
    }


@st.composite
def reports(draw: Any) -> Process:
    data = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "service": draw(st.none() | anything),
        "host": draw(anything),
        "pid": draw(st.integers(min_value=0)),
        "python": draw(anything),
        "root": draw(anything),
        "collector": draw(anything),
        "trace_id": draw(st.none() | anything),
        "status": draw(anything),
        "started_at": draw(anything),
        "started_unix_ns": draw(st.integers(min_value=0)),
        "startup_complete_ms": draw(durations),
        "modules": draw(st.lists(modules(), max_size=25)),
        "failed_imports": draw(st.lists(failures(), max_size=5)),
    }
    def fail(at: Any, message: str) -> None:
        raise AssertionError(f"a generated report does not fit the records: {message}")

    return from_document(draw(anything), data, fail)


# File names under a root: anything but "/" (a directory separator) and NUL (no file has it).
file_names = st.text(st.characters(blacklist_categories=(), blacklist_characters="/\x00"), min_size=1, max_size=12) | st.sampled_from(
    ["\x1b]0;title\x07", "\r\nforged", "caf\udce9", "\u202e"]
)


@st.composite
def audits(draw: Any) -> AuditResult:
    root = "/checkout/" + draw(file_names)
    relative: List[Tuple[str, ...]] = draw(st.lists(st.lists(file_names, min_size=1, max_size=3).map(tuple), min_size=1, max_size=15, unique=True))
    files = {"/".join((root,) + parts) + ".py": draw(anything) for parts in relative}
    merged = Merge()
    for file in draw(st.lists(st.sampled_from(sorted(files)), max_size=len(files))):
        merged.add(file, files[file])
    outside = draw(st.lists(anything, max_size=2))
    missing = draw(st.lists(anything, max_size=2))
    return AuditResult(root, files, merged, outside, missing, draw(st.integers(0, 3)), draw(st.integers(0, 3)))


def assert_safe(text: str) -> None:
    text.encode("utf-8")
    assert not RAW.search(text), RAW.search(text)


@given(reports(), st.none() | audits())
def test_the_page_of_any_report_renders_safely(report: Process, result: Any) -> None:
    started = time.monotonic()
    page = render(report, result, "a note")
    assert time.monotonic() - started < SECONDS_PER_EXAMPLE
    assert_safe(page)
    assert page.lower().count("<script") == 1  # our own filter; an input's is escaped


@given(audits())
def test_the_text_output_of_any_audit_formats_safely(result: AuditResult) -> None:
    started = time.monotonic()
    text = format_text(result)
    assert time.monotonic() - started < SECONDS_PER_EXAMPLE
    assert_safe(text)
    assert text.endswith("\n") and "\n\n\n" not in text


@given(st.lists(reports(), min_size=1, max_size=3), st.lists(reports(), min_size=1, max_size=3))
def test_the_diff_of_any_reports_formats_safely(base: List[Process], head: List[Process]) -> None:
    started = time.monotonic()
    result = diff.diff(base, head)
    failed, unknown = diff.check(result, diff.Gates(slower_percent=10, new_modules=True, budget_ms=100))
    verdicts = failed + unknown
    text, markdown = diff_render.format_text(result, verdicts=verdicts), diff_render.format_markdown(result, verdicts=verdicts)
    document = json.loads(diff_render.format_json(result, failed, unknown))  # json.loads takes the NaN a float may give
    assert time.monotonic() - started < SECONDS_PER_EXAMPLE
    assert_safe(text)
    assert_safe(markdown)
    assert len(document["changes"]) == len(result.changes)
    for row in markdown.splitlines():
        if row.startswith("| `"):  # a change: six cells, whatever the module's name holds
            assert len(re.findall(r"(?<!\\)\|", row)) == 7, row
