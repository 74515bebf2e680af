"""The diff's outputs: text, Markdown (for a pull request comment) and JSON."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Sequence, Tuple

from otel_import_tracer.messages import printable
from otel_import_tracer.reading import noise
from otel_import_tracer.reading.diff import NOT_LOADED, TOP, Change, DiffResult, Side, _ms
from otel_import_tracer.reading.lazy_moves import LazyMove
from otel_import_tracer.reading.records import Failure

DIFF_SCHEMA = "otel-import-tracer/diff"
DIFF_SCHEMA_VERSION = 2  # 2: changes within the noise are left out; spreads, noise and lazy moves
CHANGES_TITLE = ("Biggest changes in import time (self = without the imports inside its own, dependencies too; "
                 "median ±MAD of each side's startups)")


def format_text(result: DiffResult, top: int = TOP, verdicts: Sequence[str] = ()) -> str:
    lines = [f"Startup diff: {_runs(result.base)} -> {_runs(result.head)}{_medians(result)}", ""]
    lines += [_plan_sentence(one) for one in (result.base, result.head) if one.plan_runs]
    lines.append(f"Startup time: {_startup_phrase(result)}")
    lines.append(
        f"Modules at startup: {len(result.base.modules)} -> {len(result.head.modules)} "
        f"({len(result.added)} added, {len(result.removed)} removed)"
    )
    for title, names, one in (("Added", result.added, result.head), ("Removed", result.removed, result.base)):
        if names:
            lines += ["", f"{title} ({len(names)}):"] + [f"  {name}{_took(one, name)}" for name in names]
    if result.new_failures:
        lines += ["", f"New failed imports ({len(result.new_failures)}):"]
        lines += [f"  {_failure_phrase(failure)}" for failure in result.new_failures]
    if result.fixed_failures:
        lines += ["", f"Failed imports gone ({len(result.fixed_failures)}):"]
        lines += [f"  {_failure_phrase(failure)}" for failure in result.fixed_failures]
    shown = result.changes[:top]
    if shown:
        lines += ["", CHANGES_TITLE + ":"]
        rows = [("module", "self base -> head", "change", "noise", "cumulative base -> head", "change")]
        rows += [_change_cells(change) for change in shown]
        lines += ["  " + line for line in _columns(rows)]
    lines += ["", _noise_sentence(result)]
    lines += _lazy_text(result.lazy_moves)
    lines += _dependency_text(result, top)
    if verdicts:
        lines += [""] + list(verdicts)
    return "".join(printable(line) + "\n" for line in lines)


def _plan_sentence(one: Side) -> str:
    """Said of a side that holds runs in lazy plan mode: what the tracer made lazy is not a move."""
    runs = "a lazy plan mode run" if one.plan_runs == len(one.startups) == 1 else (
        f"{one.plan_runs} of {len(one.startups)} runs in lazy plan mode")
    return (f"{one.label}: {runs} (IMPORT_TRACING_LAZY_PLAN): the tracer, not the code, made the root's imports lazy, "
            "so none counts as moved between eager and lazy, and its startup is not the code's own.")


def _noise_sentence(result: DiffResult) -> str:
    """How many modules moved within the noise, and what the noise is."""
    few = min(len(result.base.startups), len(result.head.startups))
    rule = (f"a change is one when even the fastest run of the slower side is beyond the other side's median "
            f"by over {noise.K:g} x its MAD and over {noise.FLOOR_MS:g} ms")
    unknown = "; one startup on a side: its noise is unknown, give each side 5" if few < 2 else ""
    return f"Within noise: {result.within_noise} module{'' if result.within_noise == 1 else 's'}, not changes ({rule}{unknown})."


def _move_cells(move: LazyMove) -> Tuple[str, str, str, str, str]:
    way = "eager -> lazy" if move.to_lazy else "lazy -> eager"
    return move.name, f"{way} ({move.fate})", f"{_ms(move.base_ms)} -> {_ms(move.head_ms)}", _signed_ms(move.delta_ms), move.where


def _lazy_text(moves: Sequence[LazyMove]) -> List[str]:
    if not moves:
        return []
    rows = [("module", "import", "its load in startup", "change", "lazy statement")] + [_move_cells(move) for move in moves]
    return ["", f"Imports moved between eager and lazy ({len(moves)}):"] + ["  " + line for line in _columns(rows)]


def _dependency_text(result: DiffResult, top: int) -> List[str]:
    if not result.dependencies_compared:
        return []
    base, head = result.base.dependencies or {}, result.head.dependencies or {}
    lines = ["", f"Dependencies at startup (imported directly by the root's code): {len(base)} -> {len(head)} "
             f"({len(result.dependencies_added)} added, {len(result.dependencies_removed)} removed)"]
    for title, names, times in (("added", result.dependencies_added, head), ("removed", result.dependencies_removed, base)):
        if names:
            lines.append(f"  {title}: " + ", ".join(f"{name} ({_ms(times[name])})" for name in names))
    shown = [change for change in result.dependency_changes[:top] if change.delta_ms]
    if shown:
        rows = [("dependency", "base -> head", "change")]
        rows += [(change.name, f"{_ms(change.base_ms)} -> {_ms(change.head_ms)}", _signed_ms(change.delta_ms)) for change in shown]
        lines += ["  " + line for line in _columns(rows)]
    return lines


def format_markdown(result: DiffResult, top: int = TOP, verdicts: Sequence[str] = ()) -> str:
    """For a pull-request comment."""
    lines = ["### Startup imports: base vs head", ""]
    lines += [
        f"{_md(_runs(result.base))} → {_md(_runs(result.head))}{_medians(result)}.",
        "",
        *[f"{_md(_plan_sentence(one))}\n" for one in (result.base, result.head) if one.plan_runs],
        "| | base | head | change |",
        "|---|---|---|---|",
        f"| startup time (median ±MAD) | {_spread(result.base.startup_ms, result.base.startup_spread_ms, len(result.base.startups))} | "
        f"{_spread(result.head.startup_ms, result.head.startup_spread_ms, len(result.head.startups))} | {_startup_change(result)} |",
        f"| modules at startup | {len(result.base.modules)} | {len(result.head.modules)} | "
        f"+{len(result.added)} / -{len(result.removed)} |",
    ]
    for title, names, one in (("Added", result.added, result.head), ("Removed", result.removed, result.base)):
        if names:
            lines += ["", f"**{title}** ({len(names)}): " + ", ".join(f"`{_md(name)}`{_took(one, name)}" for name in names)]
    if result.new_failures:
        lines += ["", f"**New failed imports** ({len(result.new_failures)}):", ""]
        lines += [f"- `{_md(failure.name)}`: {_md(_failure_phrase(failure, name=False))}" for failure in result.new_failures]
    if result.fixed_failures:
        lines += ["", f"**Failed imports gone** ({len(result.fixed_failures)}): "
                  + ", ".join(f"`{_md(failure.name)}`" for failure in result.fixed_failures)]
    shown = result.changes[:top]
    if shown:
        lines += ["", f"**Biggest changes in import time**{CHANGES_TITLE[len('Biggest changes in import time'):]}", ""]
        lines += ["| module | self base → head | change | noise | cumulative base → head | change |", "|---|---|---|---|---|---|"]
        lines += ["| " + " | ".join([f"`{_md(cells[0])}`"] + [_md(cell) for cell in cells[1:]]) + " |" for cells in map(_change_cells, shown)]
    lines += ["", _md(_noise_sentence(result))]
    if result.lazy_moves:
        lines += ["", f"**Imports moved between eager and lazy** ({len(result.lazy_moves)})", "",
                  "| module | import | its load in startup | change | lazy statement |", "|---|---|---|---|---|"]
        lines += ["| " + " | ".join([f"`{_md(cells[0])}`"] + [_md(cell) for cell in cells[1:]]) + " |"
                  for cells in map(_move_cells, result.lazy_moves)]
    if result.dependencies_compared:
        lines += ["", f"**Dependencies at startup**: {len(result.base.dependencies or {})} → {len(result.head.dependencies or {})}"
                  + "".join(f"; {title}: " + ", ".join(f"`{_md(name)}`" for name in names)
                            for title, names in (("added", result.dependencies_added), ("removed", result.dependencies_removed)) if names)]
        moved = [change for change in result.dependency_changes[:top] if change.delta_ms]
        if moved:
            lines += ["", "| dependency | base → head | change |", "|---|---|---|"]
            lines += [f"| `{_md(change.name)}` | {_ms(change.base_ms)} → {_ms(change.head_ms)} | {_signed_ms(change.delta_ms)} |" for change in moved]
    if verdicts:
        lines += [""] + [f"- {_md(verdict)}" for verdict in verdicts]
    return "\n".join(lines) + "\n"


def to_json(result: DiffResult, failed: Sequence[str] = (), unknown: Sequence[str] = ()) -> Dict[str, Any]:
    def side_json(one: Side) -> Dict[str, Any]:
        found = {
            "startups": len(one.startups),
            "inputs": sorted({report.path for report in one.startups}),
            "startup_ms": one.startup_ms,
            "startup_spread_ms": one.startup_spread_ms,
            "startup_fastest_ms": one.startup_fastest_ms,
            "modules": len(one.modules),
        }
        if one.plan_runs:  # it holds runs in lazy plan mode (Python 3.15): their laziness is no move
            found["lazy_plan"] = True
        return found

    return {
        "schema": DIFF_SCHEMA,
        "schema_version": DIFF_SCHEMA_VERSION,
        "base": side_json(result.base),
        "head": side_json(result.head),
        "startup_delta_ms": result.startup_delta_ms,
        "startup_change_percent": result.startup_change_percent,
        "startup_noise_ms": result.startup_noise_ms,
        "startup_beyond_noise": result.startup_beyond_noise,
        "noise": {"k": noise.K, "floor_ms": noise.FLOOR_MS, "within_noise": result.within_noise},
        "added": result.added,
        "removed": result.removed,
        "new_failures": [_failure_json(failure) for failure in result.new_failures],
        "fixed_failures": [_failure_json(failure) for failure in result.fixed_failures],
        "changes": [_change_json(change) for change in result.changes],
        "unchanged": [_change_json(change) for change in result.unchanged],  # within the noise: not changes
        "dependencies": {
            "compared": result.dependencies_compared,
            "added": result.dependencies_added,
            "removed": result.dependencies_removed,
            "changes": [
                {"name": change.name, "base_ms": change.base_ms, "head_ms": change.head_ms, "delta_ms": change.delta_ms,
                 "noise_ms": change.noise_ms}
                for change in result.dependency_changes
            ],
        },
        "lazy_moves": [
            {"name": move.name, "to": "lazy" if move.to_lazy else "eager", "fate": move.fate, "base_startup_ms": move.base_ms,
             "head_startup_ms": move.head_ms, "startup_delta_ms": move.delta_ms, "statement": move.where}
            for move in result.lazy_moves
        ],
        "gates_failed": list(failed),
        "gates_unknown": list(unknown),
    }


def format_json(result: DiffResult, failed: Sequence[str] = (), unknown: Sequence[str] = ()) -> str:
    return json.dumps(to_json(result, failed, unknown), indent=2) + "\n"



def _change_json(change: Change) -> Dict[str, Any]:
    return {
        "name": change.name,
        "base_self_ms": change.base.self_ms,
        "head_self_ms": change.head.self_ms,
        "self_delta_ms": change.self_delta_ms,
        "base_self_spread_ms": change.base.self_spread_ms,
        "head_self_spread_ms": change.head.self_spread_ms,
        "base_self_fastest_ms": change.base.self_fastest_ms,
        "head_self_fastest_ms": change.head.self_fastest_ms,
        "noise_ms": change.noise_ms,
        "base_cumulative_ms": change.base.cumulative_ms,
        "head_cumulative_ms": change.head.cumulative_ms,
        "cumulative_delta_ms": change.cumulative_delta_ms,
    }


def _failure_json(failure: Failure) -> Dict[str, Any]:
    keys = ("name", "importer", "importer_file", "line", "exception_type", "message")
    return {key: getattr(failure, key) for key in keys}


def _failure_phrase(failure: Failure, name: bool = True) -> str:
    where = failure.importer_file or failure.importer or "?"
    if failure.line is not None:
        where = f"{where}:{failure.line}"
    text = f"{failure.exception_type}: {failure.message} (in {where})"
    return f"{failure.name}  {text}" if name else text


def _medians(result: DiffResult) -> str:
    return " (medians)" if len(result.base.startups) > 1 or len(result.head.startups) > 1 else ""


def _took(one: Side, name: str) -> str:
    """`` (12.3 ms)``: a module's cumulative import time on the side that has it, where known."""
    timing = one.modules[name].cumulative_ms
    return "" if timing is None else f" ({_ms(timing)})"


def _runs(one: Side) -> str:
    count = len(one.startups)
    return f"{one.label} {count} startup{'' if count == 1 else 's'}"


def _signed_ms(value: Optional[float]) -> str:
    return "?" if value is None else f"{value:+.1f} ms"


def _startup_change(result: DiffResult) -> str:
    percent = result.startup_change_percent
    delta = _signed_ms(result.startup_delta_ms)
    return delta if percent is None else f"{delta} ({percent:+.1f}%)"


def _startup_phrase(result: DiffResult) -> str:
    verdict = "" if result.startup_delta_ms is None else (
        f", {'beyond' if result.startup_beyond_noise else 'within'} the noise (±{result.startup_noise_ms:.1f} ms)")
    return (f"{_spread(result.base.startup_ms, result.base.startup_spread_ms, len(result.base.startups))} -> "
            f"{_spread(result.head.startup_ms, result.head.startup_spread_ms, len(result.head.startups))}, {_startup_change(result)}{verdict}")


def _spread(value: Optional[float], spread: float, runs: int) -> str:
    """``12.3 ±0.4 ms``: a median and its MAD (of ``runs`` values; one has no spread to show)."""
    if value is None or runs < 2:
        return _ms(value)
    return f"{value:.1f} ±{spread:.1f} ms"


def _change_cells(change: Change) -> Tuple[str, str, str, str, str, str]:
    new = "(new) " if change.base is NOT_LOADED else ""
    gone = " (gone)" if change.head is NOT_LOADED else ""
    return (
        change.name,
        f"{new}{_spread(change.base.self_ms, change.base.self_spread_ms, change.base.runs)} -> {_spread(change.head.self_ms, change.head.self_spread_ms, change.head.runs)}{gone}",
        _signed_ms(change.self_delta_ms),
        f"±{change.noise_ms:.1f} ms",
        f"{_ms(change.base.cumulative_ms)} -> {_ms(change.head.cumulative_ms)}",
        _signed_ms(change.cumulative_delta_ms),
    )


def _columns(rows: Sequence[Sequence[str]]) -> List[str]:
    widths = [max(len(row[index]) for row in rows) for index in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def _md(text: str) -> str:
    """Text safe in a Markdown table cell or code span: printable, no pipe or backtick to break out."""
    return printable(text).replace("|", "\\|").replace("`", "'")
