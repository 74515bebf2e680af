"""The page's section on lazy import statements (Python 3.15+, PEP 810): each one declared in the
root's code, and what became of it: reified during startup (lazy bought nothing: the use that forced
it), after startup (the request that needed it), never used, or not used yet when the report was written.

A report written before 3.15 has none to say and gets no section."""

from __future__ import annotations

import html
from typing import Any, List, Optional, Sequence

from otel_import_tracer.messages import printable
from otel_import_tracer.reading.records import LAZY_NEVER, LAZY_REIFIED, LazyImport, Process

TABLE_ROWS = 1000  # the statements shown: startup's first (what lazy failed to save), then the slowest
TITLE = "Lazy import statements"
ANCHOR = "lazy-imports"


def section(report: Process) -> str:
    """The section, or '' for a report that has no ``lazy_imports`` (written before Python 3.15)."""
    statements = report.lazy_imports
    if statements is None:
        return ""
    return f'<section id="{ANCHOR}"><h2>{_e(TITLE)}</h2>{_content(statements, report.path)}</section>'


def _content(statements: Sequence[LazyImport], source: str) -> str:
    if not statements:
        return "<p>No lazy import statement in the root's code ran in this process.</p>"
    shown = sorted(statements, key=_order)[:TABLE_ROWS]
    cut = ""
    if len(shown) < len(statements):
        cut = f'<p class="cut">The first {len(shown)} of {len(statements)} lazy import statements; all are in the report, {_e(source)}.</p>'
    counts = _counts(statements)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_e(cell)}</td>" for cell in (
            lazy.name, _statement(lazy), _declared(lazy), _became(lazy), "" if lazy.duration_ms is None else _ms(lazy.duration_ms),
        )) + "</tr>"
        for lazy in shown
    )
    head = "".join(f"<th>{_e(name)}</th>" for name in ("module", "statement", "declared at", "what became of it", "took"))
    return (f'<p class="totals">{_e(counts)}</p>{cut}'
            f'<table class="lazy-imports"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>')


def _order(lazy: LazyImport) -> Any:
    """Startup's reifications first (lazy bought nothing there), then after startup, never, declared; slowest first."""
    rank = 0 if _during(lazy) else 1 if lazy.state == LAZY_REIFIED else 2 if lazy.state == LAZY_NEVER else 3
    return rank, -(lazy.duration_ms or 0.0), lazy.file, lazy.line or 0


def _during(lazy: LazyImport) -> bool:
    return lazy.state == LAZY_REIFIED and lazy.after_startup is False


def _counts(statements: Sequence[LazyImport]) -> str:
    during = sum(1 for lazy in statements if _during(lazy))
    after = sum(1 for lazy in statements if lazy.state == LAZY_REIFIED and lazy.after_startup)
    never = sum(1 for lazy in statements if lazy.state == LAZY_NEVER)
    return (f"{len(statements)} declared: {during} reified during startup (lazy bought nothing), "
            f"{after} after startup, {never} never used.")


def _statement(lazy: LazyImport) -> str:
    if lazy.fromlist:
        return f"lazy from {lazy.name} import {', '.join(lazy.fromlist)}"
    return f"lazy import {lazy.name}"


def _declared(lazy: LazyImport) -> str:
    where = f"{lazy.file}:{lazy.line}" if lazy.line is not None else lazy.file
    return f"{where} ({lazy.importer})" if lazy.importer else where


def _became(lazy: LazyImport) -> str:
    forced = "" if lazy.forced_at is None else f", forced at {lazy.forced_at}"
    if _during(lazy):
        return f"reified during startup{forced}"
    if lazy.state == LAZY_REIFIED:
        return f"reified after startup{_request(lazy.request)}{forced}"
    if lazy.state == LAZY_NEVER:
        return "never used"
    return "declared, not used when the report was written"


def _request(request: Optional[dict]) -> str:
    if not request:
        return ""
    return f" by the request {request.get('name') or '?'} (trace {request.get('trace_id') or '?'})"


def _ms(value: float) -> str:
    return f"{value:,.1f} ms" if value >= 10 else f"{value:.2f} ms"


def _e(text: Any) -> str:
    return html.escape(printable(str(text)), quote=True)


__all__: List[str] = ["section"]
