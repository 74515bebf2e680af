"""The JSON report read back: checked field by field, each error at the file and line at fault.

The writing side (``otel_import_tracer.report``) writes it; this reads it into records."""

from __future__ import annotations

import json
from typing import Any, NoReturn

from otel_import_tracer.reading.files import InputError, JsonPath, decode_report, line_of, parse_json, read_bytes
from otel_import_tracer.reading.records import HEADER_FIELDS, Process, check_fields, from_document, record_hook, where
from otel_import_tracer.schema import READABLE_VERSIONS, SCHEMA, SCHEMA_VERSION
from otel_import_tracer.version import __version__

def read_report(path: str) -> Process:
    """Read and check the report at ``path``; raises ``InputError`` naming the file and line."""
    return parse_report_text(decode_report(read_bytes(path), path), path)


def parse_report(raw: bytes, path: str) -> Process:
    """Check a report's bytes; ``path`` is only used in error messages."""
    return parse_report_text(decode_report(raw, path), path)


def parse_report_text(text: str, path: str) -> Process:
    """``parse_report`` of text already decoded: a caller that drops the bytes first holds one
    copy of a 100 MB report while its document is built, not two."""
    if not text or text.isspace():
        raise InputError(path, 1, "the file is empty: the process may have been killed before its report was written")
    data = parse_json(text, path, object_hook=record_hook)
    return _process(data, text, path)


def _process(data: Any, text: str, path: str) -> Process:
    def fail(at: JsonPath, message: str) -> NoReturn:
        raise InputError(path, line_of(text, at), message)

    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        fail((), f"not an otel-import-tracer report (no \"schema\": \"{SCHEMA}\" field)")
    version = data.get("schema_version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        fail(("schema_version",), _version_problem(version))
    check_fields(data, HEADER_FIELDS, (), fail)
    if "dependencies" in data and not isinstance(data["dependencies"], list):
        fail(("dependencies",), f"{where(('dependencies',))} should be a list, not {json.dumps(data['dependencies'])[:40]}")
    return from_document(path, data, fail)


def _version_problem(version: Any) -> str:
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        return (
            f"report schema version {version} is newer than this otel-import-tracer ({__version__}) "
            f"reads (version {SCHEMA_VERSION}); upgrade otel-import-tracer"
        )
    return (
        f"report schema version {version!r} is not supported (this otel-import-tracer reads "
        f"versions {', '.join(map(str, READABLE_VERSIONS))}); write the report again with a matching otel-import-tracer"
    )
