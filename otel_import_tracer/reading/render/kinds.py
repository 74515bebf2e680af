"""The diff of sides holding several kinds of process: each kind compared with itself, one
section per kind in the diff's own format, and the kinds found on one side only said first."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Sequence, Tuple

from otel_import_tracer.messages import printable
from otel_import_tracer.reading.diff import Gates, check
from otel_import_tracer.reading.kinds import Comparison, Kind, label
from otel_import_tracer.reading.render import diff as render


def output(comparison: Comparison, gates: Gates, fmt: str, top: int) -> Tuple[str, bool, bool]:
    """``(text, a gate failed, a gate or the comparison could not tell)``."""
    checked = [(kind, result, *check(result, gates)) for kind, result in comparison.groups]
    failed_any = any(failed for _, _, failed, _ in checked)
    unknown_any = any(unknown for _, _, _, unknown in checked) or not checked
    if fmt == "json":
        return json.dumps(_json(comparison, checked), indent=2) + "\n", failed_any, unknown_any
    markdown = fmt == "markdown"
    lines = _head_lines(comparison, markdown)
    for kind, result, failed, unknown in checked:
        verdicts = [f"FAILED {reason}" for reason in failed] + [f"CANNOT TELL {reason}" for reason in unknown]
        if gates.any() and not verdicts:
            verdicts = ["Gates passed."]
        title = label(kind)
        lines += ["", f"#### {_md(title)}" if markdown else f"== {printable(title)} =="]
        section = (render.format_markdown if markdown else render.format_text)(result, top, verdicts)
        lines += section.rstrip("\n").split("\n")
    return "\n".join(lines) + "\n", failed_any, unknown_any


def _head_lines(comparison: Comparison, markdown: bool) -> List[str]:
    compared = ", ".join(label(kind) for kind, _ in comparison.groups) or "none"
    lines = [f"{'**Kinds of process**' if markdown else 'Kinds of process'} (role: entry), each compared with the same kind "
             f"on the other side: {_md(compared) if markdown else printable(compared)}"]
    for side, only in (("base", comparison.base_only), ("head", comparison.head_only)):
        if only:
            kinds = ", ".join(f"{label(kind)} ({count} startup{'' if count == 1 else 's'})" for kind, count in only)
            lines.append(f"Only on the {side} side, not compared: {_md(kinds) if markdown else printable(kinds)}")
    if not comparison.groups:
        lines.append("Nothing to compare: no kind of process is on both sides.")
    return lines


def _json(comparison: Comparison, checked: Sequence[Tuple[Kind, Any, List[str], List[str]]]) -> Dict[str, Any]:
    def kind_json(kind: Kind) -> Dict[str, Any]:
        return {"role": None if kind is None else kind[0], "entry": None if kind is None else kind[1], "label": label(kind)}

    groups = []
    for kind, result, failed, unknown in checked:
        one = render.to_json(result, failed, unknown)
        del one["schema"], one["schema_version"]
        groups.append({"kind": kind_json(kind), **one})
    return {
        "schema": render.DIFF_SCHEMA,
        "schema_version": render.DIFF_SCHEMA_VERSION,
        "kinds": groups,
        "base_only": [{"kind": kind_json(kind), "startups": count} for kind, count in comparison.base_only],
        "head_only": [{"kind": kind_json(kind), "startups": count} for kind, count in comparison.head_only],
        "gates_failed": [f"{label(kind)}: {reason}" for kind, _, failed, _ in checked for reason in failed],
        "gates_unknown": [f"{label(kind)}: {reason}" for kind, _, _, unknown in checked for reason in unknown],
    }


def _md(text: str) -> str:
    return printable(text).replace("|", "\\|").replace("`", "'")
