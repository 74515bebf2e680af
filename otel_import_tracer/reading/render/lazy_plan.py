"""The lazy plan's outputs (``otel-import-tracer lazy --format text|json|markdown``)."""

from __future__ import annotations

import json
from typing import Optional

from otel_import_tracer.reading.lazy_plan import AFTER_STARTUP, DURING_STARTUP, KINDS, Plan, Statement


def _ms(value: Optional[float]) -> str:
    return "? ms" if value is None else f"{value:.1f} ms"


def _why(statement: Statement) -> str:
    if statement.kind == DURING_STARTUP:
        return f"needed by startup{' at ' + statement.forced_at if statement.forced_at else ''}: lazy buys nothing"
    if statement.kind == AFTER_STARTUP:
        return f"first used after startup{' by ' + statement.request if statement.request else ''}: lazy moves it out of startup"
    return "never used: lazy saves all of it (dead code, or a side-effect import that must stay eager)"


def format_text(plan: Plan) -> str:
    lines = [f"lazy plan: {len(plan.statements)} import statements of the root's code"
             + (f" ({plan.excluded} excluded)" if plan.excluded else "")]
    for kind in KINDS:
        count = sum(1 for s in plan.statements if s.kind == kind)
        saved = sum(s.ms or 0.0 for s in plan.statements if s.kind == kind)
        lines.append(f"  {kind}: {count} ({saved:.1f} ms of startup)")
    lines.append("")
    for statement in plan.statements:
        lines.append(f"{statement.kind:<15} {_ms(statement.ms):>10}  {statement.file}:{statement.line}  {statement.name}")
        lines.append(f"{'':<27}{_why(statement)}")
        if statement.kind != DURING_STARTUP:
            lines.append(f"{'':<27}paste: {statement.paste}")
    if plan.lazy_modules:
        lines.append("")
        lines.append("or, per file:")
        for file, names in plan.lazy_modules.items():
            lines.append(f"  {file}: __lazy_modules__ = {json.dumps(names)}")
    for note in plan.notes:
        lines.append("")
        lines.append(f"note: {note}")
    return "\n".join(lines) + "\n"


def format_json(plan: Plan) -> str:
    document = {
        "statements": [statement.to_json() for statement in plan.statements],
        "lazy_modules": plan.lazy_modules,
        "excluded": plan.excluded,
        "notes": plan.notes,
    }
    return json.dumps(document, indent=2) + "\n"


def format_markdown(plan: Plan) -> str:
    lines = [f"## Lazy import plan: {len(plan.statements)} import statements", "",
             "| kind | startup ms | where | module | why | paste |", "|---|---:|---|---|---|---|"]
    for s in plan.statements:
        paste = f"`{s.paste}`" if s.kind != DURING_STARTUP else ""
        ms = "?" if s.ms is None else f"{s.ms:.1f}"
        lines.append(f"| {s.kind} | {ms} | `{s.file}:{s.line}` | `{s.name}` | {_why(s)} | {paste} |")
    for note in plan.notes:
        lines += ["", f"> {note}"]
    return "\n".join(lines) + "\n"


def render(plan: Plan, output_format: str) -> str:
    if output_format == "json":
        return format_json(plan)
    if output_format == "markdown":
        return format_markdown(plan)
    return format_text(plan)
