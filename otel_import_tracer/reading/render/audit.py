"""The audit's outputs: text (never-loaded files by package, then totals) and JSON."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List

from otel_import_tracer.messages import printable
from otel_import_tracer.reading.audit import AuditResult, never_loaded_by_package

AUDIT_SCHEMA = "otel-import-tracer/audit"
AUDIT_SCHEMA_VERSION = 1


def format_text(result: AuditResult) -> str:
    """The never-loaded files by package, then totals.

    Names come from the disk and the inputs: each line goes through ``printable``, so an
    escape sequence or a newline in a file name shows as ``\\x1b`` or ``\\n``, never acts."""
    base = os.path.dirname(result.root)
    lines = [f"Never-loaded files under {result.root} ({_inputs_phrase(result)}):", ""]
    for package, size, files in never_loaded_by_package(result):
        lines.append(f"{package}  ({len(files)} of {size} files never loaded)")
        shown = [printable(os.path.relpath(file, base)) for file in files]
        width = max(len(name) for name in shown)
        for file, name in zip(files, shown):
            lines.append(f"  {name:<{width}}  {result.files[file]}")
        lines.append("")
    if not result.never_loaded:
        lines += ["(none: every file loaded at least once)", ""]
    lines.append(
        f"Total: {len(result.files)} files, {result.loaded_count} loaded ({result.loaded_percent}%), "
        f"{len(result.never_loaded)} never loaded."
    )
    if result.kinds:  # reports and traces that say what each process was
        lines.append("Processes by kind: " + ", ".join(f"{kind} {count}" for kind, count in result.kinds))
    lines.extend(_caveats(result))
    lines.append("Loaded means imported at least once in these runs, not that its code is used.")
    return "".join(printable(line) + "\n" for line in lines)


def _inputs_phrase(result: AuditResult) -> str:
    phrase = f"{_plural(result.reports, 'report')}, {_plural(result.logs, 'log')}"
    if result.traces:
        phrase += f", {_plural(result.traces, 'trace file')} of {result.traced_processes} process{'' if result.traced_processes == 1 else 'es'}"
    return phrase


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _caveats(result: AuditResult) -> List[str]:
    lines = []
    if result.outside_root:
        lines.append(
            f"Could not place {_plural(len(result.outside_root), 'loaded file')} under {result.root} "
            f"(e.g. {result.outside_root[0]}): check --root, or add --path-map RECORDED=LOCAL."
        )
    if result.missing_locally:
        lines.append(
            f"Not found here: {_plural(len(result.missing_locally), 'loaded file')} "
            f"(e.g. {result.missing_locally[0]}); the code changed since these runs?"
        )
    return lines


def to_json(result: AuditResult) -> Dict[str, Any]:
    """The audit as a JSON document (``--format json``)."""
    never = result.never_loaded
    document = {
        "schema": AUDIT_SCHEMA,
        "schema_version": AUDIT_SCHEMA_VERSION,
        "root": result.root,
        "inputs": {"reports": result.reports, "logs": result.logs, "traces": result.traces, "traced_processes": result.traced_processes},
        "totals": {
            "files": len(result.files),
            "loaded": result.loaded_count,
            "never_loaded": len(never),
            "loaded_percent": result.loaded_percent,
        },
        "never_loaded": [
            {"package": package, "files_in_package": size, "files": [{"file": f, "module": result.files[f]} for f in files]}
            for package, size, files in never_loaded_by_package(result)
        ],
        "never_loaded_files": never,
        "never_loaded_modules": sorted(result.files[file] for file in never),
        "loaded": [
            {"file": file, "module": merged.module, "processes": merged.processes, "lazy_in": merged.lazy, "preloaded_in": merged.preloaded}
            for file, merged in sorted(result.merged.files.items())
            if file in result.files
        ],
        "outside_root": result.outside_root,
        "missing_locally": result.missing_locally,
    }
    if result.kinds:  # inputs that say what each process was (role: entry)
        document["processes_by_kind"] = [{"kind": kind, "processes": count} for kind, count in result.kinds]
    return document


def format_json(result: AuditResult) -> str:
    return json.dumps(to_json(result), indent=2) + "\n"
