"""One self-contained HTML page for a report: startup waterfall, slowest imports and dependencies, failed and
lazy imports, never-loaded files.

Inline CSS and a few lines of inline JavaScript only: no fonts, scripts or images from the
network, so the page opens the same on an air-gapped laptop and as a CI artifact.

A report may be huge (hundreds of thousands of modules) or hand-edited: each section draws at
most a few thousand rows (the slowest, where it has to choose) and says what it left out,
every name shown goes through ``messages.printable``, and any float, infinite or NaN
included, gives a bar somewhere on the track.
"""

from __future__ import annotations

import heapq
import html
import math
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from otel_import_tracer.atomic import write_text
from otel_import_tracer.messages import printable
from otel_import_tracer.reading.audit import AuditResult, never_loaded_by_package
from otel_import_tracer.reading.kinds import label
from otel_import_tracer.reading.records import Dependency, Failure, Module, Process
from otel_import_tracer.reading.render import page_lazy
from otel_import_tracer.reading.timings import dependency_times, finite, has_stack, parent_of, self_times
from otel_import_tracer.version import __version__

SLOWEST_SHOWN = 20
# A browser lays out some ten thousand rows in a second or two; 400,000 it does not open at all.
WATERFALL_ROWS = 2000  # the slowest startup imports (a slow import's importers are slower still)
TABLE_ROWS = 1000  # failed imports as recorded, lazy imports the slowest
NEVER_LOADED_SHOWN = 2000  # files, package by package
_MAX_TICKS = 12
MAIN_THREAD = "MainThread"
_MIN_BAR_PERCENT = 0.15  # so a 10 µs import is still a visible sliver

Entry = Union[Module, Dependency]


def render(report: Process, audit: Optional[AuditResult] = None, audit_note: str = "") -> str:
    """The whole page. ``audit``: the never-loaded files; ``audit_note``: why they are missing."""
    data = report.header
    startup = [entry for entry in report.modules if not entry.lazy]
    lazy = [entry for entry in report.modules if entry.lazy]
    dependencies = report.dependencies
    title = f"Imports of {data['service'] or 'unknown service'} (pid {data['pid']} on {data['host']})"
    body = [
        f"<h1>{_e(title)}</h1>",
        _summary(report, startup, lazy),
        _section("Startup waterfall", _waterfall(startup, data["startup_complete_ms"], report.path,
                                                 [entry for entry in dependencies if not entry.lazy]), "waterfall"),
        _section("Slowest imports", _slowest(report.modules, dependencies), "slowest"),
        _section("Slowest dependencies", _slowest_dependencies(dependencies, report.path), "dependencies"),
        _section("Failed imports", _failed(report.failed_imports, report.path), "failed"),
        _section("Lazy imports (after startup)", _lazy(lazy, report.path), "lazy"),
        *([page_lazy.section(report)] if report.lazy_imports is not None else []),  # Python 3.15+
        _section("Never-loaded files", _never_loaded(audit, audit_note, report.path), "never-loaded"),
        f"<footer>otel-import-tracer {_e(__version__)} · {_e(report.path)}</footer>",
    ]
    return _PAGE.format(title=_e(title), style=_STYLE, script=_SCRIPT, body="\n".join(body))


def write(report: Process, path: str, audit: Optional[AuditResult] = None, audit_note: str = "") -> None:
    """Render, then replace ``path`` atomically: a failed render or write leaves the previous page.

    The user named ``path``: an existing regular file is overwritten (keeping its mode), a
    symlink is followed to its target, anything else (a FIFO, a device, a directory) is refused
    with an ``OSError``."""
    page = render(report, audit, audit_note)
    write_text(page, os.path.realpath(path), regular_only=True)


# -- sections ---------------------------------------------------------------------------


def _summary(report: Process, startup: List[Entry], lazy: List[Entry]) -> str:
    data = report.header
    complete = data["startup_complete_ms"]
    facts = [
        ("Service", data["service"] or "(not set: OTEL_SERVICE_NAME)"),
        ("Host / pid", f"{data['host']} / {data['pid']}"),
        *_kind_facts(report),
        ("Python", data["python"]),
        ("Root", data["root"]),
        ("Collector", data["collector"]),
        ("Trace id of app.startup", data["trace_id"] or "(none: no trace was exported)"),
        ("Started", data["started_at"]),
        ("Startup took", "(not complete)" if complete is None else _ms(complete)),
        ("Modules", f"{len(startup)} at startup ({sum(e.preloaded for e in startup)} preloaded), {len(lazy)} lazy"),
        ("Failed imports", str(len(report.failed_imports))),
        ("Dependencies", f"{len(report.dependencies)} imported directly by code under the root"
         + (f", {_ms(sum(finite(entry.duration_ms) for entry in report.dependencies))} in all" if report.dependencies else "")),
        ("Report status", data["status"]),
    ]
    rows = "".join(f"<dt>{_e(name)}</dt><dd>{_e(value)}</dd>" for name, value in facts)
    return f'<dl class="summary">{rows}</dl>'


def _kind_facts(report: Process) -> List[Tuple[str, str]]:
    """What the process was and its command, for reports and traces that say it."""
    if report.kind is None:
        return []
    facts = [("Process", label(report.kind))]
    if report.command is not None:
        facts.append(("Command", " ".join(report.command)))
    return facts


def _waterfall(startup: List[Entry], complete_ms: Optional[float], source: str, dependencies: Sequence[Entry] = ()) -> str:
    if not startup:
        return "<p>No module loaded during startup.</p>"
    scale = max([finite(complete_ms), 0.0] + [_end(entry) for entry in [*startup, *dependencies]]) or 1.0
    shown = _slowest_first(startup, WATERFALL_ROWS)
    shown_dependencies = _slowest_first(dependencies, WATERFALL_ROWS)
    # Dependencies are marked apart, so one named like a module of the root stays a dependency.
    rows = [
        _dependency_row(entry, depth, scale) if isinstance(entry, Dependency) else _waterfall_row(entry, depth, scale)
        for entry, depth in tree_order([*shown, *shown_dependencies])
    ]
    marker = "" if complete_ms is None else _complete_marker(complete_ms, scale)
    cut = _cut(len(shown), len(startup), "startup imports, the slowest", f"every module is in the report, {source}")
    cut += _cut(len(shown_dependencies), len(dependencies), "dependency loads, the slowest", f"all are in the report, {source}")
    return cut + (
        '<p class="legend"><span class="key main"></span>main thread <span class="key thread"></span>other threads '
        '<span class="key preloaded"></span>preloaded (before tracing began) '
        '<span class="key dependency"></span>dependency (outside the root, imported by its code) '
        + ('' if complete_ms is None else '<span class="key complete"></span>startup complete ')
        + '— a row under another ran inside its import (the import stack); hover a bar for details. '
        '<input id="filter" type="search" placeholder="filter modules…"></p>'
        f'<div class="waterfall" data-scale-ms="{scale:.3f}">{_axis(scale)}{marker}{"".join(rows)}</div>'
    )


def tree_order(entries: Sequence[Entry]) -> List[Tuple[Entry, int]]:
    """Entries depth-first under their import-stack parents (older reports: their importers), children by
    start time, with their depth: a module loaded after its importer's import ended is not drawn under it."""
    by_name = {entry.name: entry for entry in entries}
    on_stack = has_stack(entries)
    children: Dict[Optional[str], List[Entry]] = {}
    for entry in entries:
        parent = parent_of(entry, on_stack)
        children.setdefault(parent if parent in by_name else None, []).append(entry)
    ordered: List[Tuple[Entry, int]] = []
    stack = [(entry, 0) for entry in reversed(_by_start(children.get(None, [])))]
    seen = set()
    while stack:
        entry, depth = stack.pop()
        if entry.name in seen:  # an importer cycle in hand-edited data must not loop
            continue
        seen.add(entry.name)
        ordered.append((entry, depth))
        stack.extend((child, depth + 1) for child in reversed(_by_start(children.get(entry.name, []))))
    ordered.extend((entry, 0) for entry in _by_start(entries) if entry.name not in seen)
    return ordered


def _slowest_first(entries: Sequence[Entry], count: int) -> Sequence[Entry]:
    """All of ``entries`` if they are few, else the ``count`` that took longest (preloaded: 0)."""
    if len(entries) <= count:
        return entries
    return heapq.nlargest(count, entries, key=lambda entry: finite(entry.duration_ms))


def _waterfall_row(entry: Entry, depth: int, scale: float) -> str:
    left = _percent(entry.offset_ms, scale)
    width = max(_percent(entry.duration_ms, scale), _MIN_BAR_PERCENT)
    kind = "preloaded" if entry.preloaded else ("main" if entry.thread == MAIN_THREAD else "thread")
    duration = "preloaded" if entry.duration_ms is None else _ms(entry.duration_ms)
    tip = "&#10;".join(
        _e(line)
        for line in (
            entry.name,
            entry.file,
            f"imported by {entry.importer or '?'} in thread {entry.thread or '?'}"
            + (f", inside the import of {entry.stack_parent}" if isinstance(entry.stack_parent, str) else ""),
            f"at +{_ms(entry.offset_ms)}, took {duration}",
        )
    )
    return (
        f'<div class="row" data-module="{_e(entry.name)}" data-depth="{depth}">'
        f'<div class="label" style="padding-left:{depth * 14 + 4}px" title="{_e(entry.file)}">{_e(entry.name)}</div>'
        f'<div class="track"><div class="bar {kind}" style="left:{left:.3f}%;width:{width:.3f}%" '
        f'title="{tip}"></div></div><div class="ms">{_e(duration)}</div></div>'
    )


def _dependency_row(entry: Entry, depth: int, scale: float) -> str:
    left = _percent(entry.offset_ms, scale)
    width = max(_percent(entry.duration_ms, scale), _MIN_BAR_PERCENT)
    duration = "?" if entry.duration_ms is None else _ms(entry.duration_ms)
    tip = "&#10;".join(
        _e(line)
        for line in (
            f"import {entry.name}" + (f" ({_distribution(entry)})" if entry.distribution else ""),
            f"imported by {entry.importer or '?'} at {_where(entry)} in thread {entry.thread or '?'}",
            f"at +{_ms(entry.offset_ms)}, took {duration} with everything it imported",
        )
    )
    return (
        f'<div class="row dependency" data-module="{_e(entry.name)}" data-depth="{depth}">'
        f'<div class="label" style="padding-left:{depth * 14 + 4}px" title="{_e(_where(entry))}">{_e(entry.name)}</div>'
        f'<div class="track"><div class="bar dependency" style="left:{left:.3f}%;width:{width:.3f}%" '
        f'title="{tip}"></div></div><div class="ms">{_e(duration)}</div></div>'
    )


def _distribution(entry: Entry) -> str:
    return f"{entry.distribution} {entry.version or ''}".strip() if entry.distribution else ""


def _axis(scale: float) -> str:
    step = _nice_step(scale / 5)
    ticks = []
    for index in range(_MAX_TICKS):  # bounded: at a float's limits ``step`` may not add up to ``scale``
        value = index * step
        if value > scale:
            break
        ticks.append(f'<span class="tick" style="left:{_percent(value, scale):.3f}%">{value:g} ms</span>')
    return f'<div class="row axis"><div class="label">module</div><div class="track">{"".join(ticks)}</div><div class="ms">took</div></div>'


def _complete_marker(complete_ms: float, scale: float) -> str:
    # An overlay spanning exactly the tracks, so the line sits at the same scale as the bars.
    return (
        f'<div class="overlay"><div class="complete" style="left:{_percent(complete_ms, scale):.3f}%" '
        f'title="startup complete at +{_ms(complete_ms)}"></div></div>'
    )


def _nice_step(raw: float) -> float:
    """1, 2 or 5 times a power of ten, at least ``raw``; ``raw`` itself where no power fits (0, subnormal)."""
    if not 0 < raw < math.inf:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= raw:
            return factor * magnitude
    return raw


def _slowest(entries: Sequence[Entry], dependencies: Sequence[Entry] = ()) -> str:
    timed = [entry for entry in entries if entry.duration_ms is not None]
    if not timed:
        return "<p>No timed imports.</p>"
    top = sorted(_slowest_first(timed, SLOWEST_SHOWN), key=lambda entry: -finite(entry.duration_ms))
    own = self_times(timed, {entry.name for entry in top}, dependencies)
    spent = dependency_times(timed, dependencies)  # in dependencies: those among its children
    rows = [
        [entry.name, _ms(entry.duration_ms), _ms(own[entry.name]),
         _ms(spent.get(entry.name, 0.0)), entry.importer or "", entry.thread, "lazy" if entry.lazy else "startup"]
        for entry in top
    ]
    return _table(["module", "took (with its imports)", "self", "in dependencies", "imported by", "thread", "when"], rows, "slowest")


def _slowest_dependencies(dependencies: Sequence[Entry], source: str) -> str:
    timed = [entry for entry in dependencies if entry.duration_ms is not None]
    if not timed:
        return ("<p>No dependency load recorded: the root's code imported nothing from outside it that was not "
                "loaded already (or IMPORT_TRACING_DEPENDENCIES=false, or a report of version 1).</p>")
    top = sorted(_slowest_first(timed, SLOWEST_SHOWN), key=lambda entry: -finite(entry.duration_ms))
    rows = [
        [entry.name, _ms(entry.duration_ms), entry.distribution or "", entry.version or "",
         entry.importer or "", _where(entry), entry.thread, "lazy" if entry.lazy else "startup"]
        for entry in top
    ]
    cut = _cut(len(top), len(timed), "dependency loads, the slowest", f"all are in the report, {source}")
    return cut + _table(["import of", "took (with its imports)", "distribution", "version", "imported by", "at", "thread", "when"],
                        rows, "dependencies")


def _failed(failures: Sequence[Failure], source: str) -> str:
    if not failures:
        return "<p>No import failed.</p>"
    rows = [
        [f.name, f.exception_type, f.message, _where(f), f.thread, "lazy" if f.lazy else "startup"]
        for f in failures[:TABLE_ROWS]
    ]
    cut = _cut(len(rows), len(failures), "failed imports, the first recorded", f"all are in the report, {source}")
    return cut + _table(["import of", "exception", "message", "in", "thread", "when"], rows, "failed")


def _where(failure: Union[Failure, Dependency]) -> str:
    where = failure.importer_file or failure.importer or "?"
    return where if failure.line is None else f"{where}:{failure.line}"


def _lazy(lazy: Sequence[Entry], source: str) -> str:
    if not lazy:
        return "<p>No lazy import: every module loaded during startup (or the report was written before any request).</p>"
    shown = _by_start(_slowest_first(lazy, TABLE_ROWS))
    rows = [[e.name, f"+{_ms(e.offset_ms)}", _ms(e.duration_ms) if e.duration_ms is not None else "", e.importer or "", e.thread] for e in shown]
    cut = _cut(len(shown), len(lazy), "lazy imports, the slowest", f"all are in the report, {source}")
    return cut + _table(["module", "at", "took", "imported by", "thread"], rows, "lazy")


def _never_loaded(audit: Optional[AuditResult], note: str, source: str) -> str:
    if audit is None:
        return f"<p>{_e(note or 'Not computed.')}</p>"
    base = os.path.dirname(audit.root)
    never = len(audit.never_loaded)
    parts = [
        f'<p class="totals">{len(audit.files)} files under {_e(audit.root)}: {audit.loaded_count} loaded '
        f"({audit.loaded_percent}%), {never} never loaded in this process. "
        "Loaded is not used: a loaded module may still hold dead code.</p>",
        _cut(min(never, NEVER_LOADED_SHOWN), never, "never-loaded files",
             f"otel-import-tracer audit {source} --root {audit.root} lists them all (--format json for a program)"),
    ]
    budget = NEVER_LOADED_SHOWN
    for package, size, files in never_loaded_by_package(audit):
        if budget <= 0:
            break
        items = "".join(f"<li><code>{_e(os.path.relpath(f, base))}</code> {_e(audit.files[f])}</li>" for f in files[:budget])
        budget -= len(files)
        parts.append(f'<h3>{_e(package)} <small>({len(files)} of {size})</small></h3><ul class="never">{items}</ul>')
    return "".join(parts)


# -- helpers ----------------------------------------------------------------------------


def _cut(shown: int, total: int, what: str, everything: str) -> str:
    """What a capped section left out, and where to see all of it; '' when nothing was left out."""
    if shown >= total:
        return ""
    return f'<p class="cut">Showing {shown:,} of {total:,} {_e(what)}: {_e(everything)}.</p>'


def _section(title: str, content: str, anchor: str) -> str:
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>{content}</section>'


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], name: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{name}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _by_start(entries: Sequence[Entry]) -> List[Entry]:
    return sorted(entries, key=lambda entry: (entry.offset_ms, entry.name))


def _end(entry: Entry) -> float:
    return finite(finite(entry.offset_ms) + finite(entry.duration_ms))


def _percent(value: Optional[float], scale: float) -> float:
    """``value`` as a percentage of ``scale`` (> 0), within the track."""
    return min(max(100.0 * (finite(value) / scale), 0.0), 100.0)


def _ms(value: float) -> str:
    return f"{value:,.1f} ms" if value >= 10 else f"{value:.2f} ms"


def _e(text: Any) -> str:
    """Text for the page: control characters and lone surrogates escaped (``printable``), then HTML."""
    return html.escape(printable(str(text)), quote=True)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style></head>
<body>
{body}
<script>{script}</script>
</body></html>
"""

_STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2430;background:#fff}
h1{font-size:20px;margin:0 0 12px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #dde}
h3{font-size:14px;margin:12px 0 4px}small{color:#667}
dl.summary{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0}
dt{color:#556}dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}
.waterfall{position:relative;border:1px solid #dde;padding:2px 0}
.row{display:flex;align-items:center;height:18px;font:12px ui-monospace,monospace}
.row:hover{background:#f2f5fb}
.label{width:32%;flex:none;overflow:hidden;white-space:nowrap;text-overflow:ellipsis}
.track{position:relative;flex:1;height:100%}
.ms{width:84px;flex:none;text-align:right;padding-right:6px;color:#556}
.bar{position:absolute;top:3px;height:12px;border-radius:2px;min-width:2px}
.bar.main{background:#3b73d9}.bar.thread{background:#a259d9}.bar.preloaded{background:#9aa3ad}.bar.dependency{background:#2f9e74}
.row.dependency .label{color:#23775a;font-style:italic}
.axis{border-bottom:1px solid #dde;color:#667;height:20px}
.tick{position:absolute;top:2px;border-left:1px solid #ccd;padding-left:2px;font-size:11px}
.overlay{position:absolute;top:0;bottom:0;left:32%;right:84px;pointer-events:none}
.complete{position:absolute;top:0;bottom:0;border-left:2px dashed #e0663d}
.key{display:inline-block;width:12px;height:10px;margin:0 4px 0 12px;border-radius:2px}
.key.complete{width:0;height:12px;border-left:2px dashed #e0663d;border-radius:0}
.key.main{background:#3b73d9}.key.thread{background:#a259d9}.key.preloaded{background:#9aa3ad}.key.dependency{background:#2f9e74}
#filter{margin-left:16px;padding:2px 6px}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #dde;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f6fa}p.cut{background:#fff6e0;border-left:3px solid #e0a63d;padding:4px 8px}ul.never{margin:2px 0 8px}footer{margin-top:32px;color:#889;font-size:12px}
"""

# The filter hides waterfall rows whose module name does not contain the text typed.
_SCRIPT = """
(function(){var f=document.getElementById('filter');if(!f)return;
f.addEventListener('input',function(){var q=f.value.toLowerCase();
document.querySelectorAll('.waterfall .row[data-module]').forEach(function(r){
r.style.display=r.getAttribute('data-module').toLowerCase().indexOf(q)<0?'none':'';});});})();
"""
