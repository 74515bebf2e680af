"""Lazy imports of the root's code (PEP 810, Python 3.15+): declared, reified, or never used.

A ``lazy import x`` (or ``lazy from x import y``, or an import the global lazy mode or
``__lazy_modules__`` made lazy) binds a proxy: no finder, ``__import__``, audit or monitoring
event sees it. The one thing the interpreter calls then is the lazy-imports filter,
``f(importer, name, fromlist)``, from the declaring frame. So while tracing runs:

- **declared**: the interpreter's filter slot holds ``_filter``, which calls the application's
  filter (installed before or after the tracer started: ``sys.set_lazy_imports_filter`` and
  ``sys.get_lazy_imports_filter`` are stand-ins that keep it here), returns its answer
  unchanged, and notes each statement of the root's code that stays lazy (what, file and module,
  line, when, thread) as a plain tuple: with every import lazy, thousands of declarations pass
  through the filter during startup. The notes become records (``LazyImport``, waiting for
  their module) in one go when something needs them: the next load, startup completion, the
  registry's ``lazy_imports()``, stop. Stop gives back both functions and puts the application's
  latest filter in the slot.
- **reified**: first use runs the ordinary import machinery, which the other collectors see as
  a load (the use's frame is the importer): the load of a module a pending statement names
  reifies it, with the use's file and line, thread, duration, and whether startup was over
  (telemetry then puts it on the span current there, the request's). A statement whose module
  was already imported reifies with nothing to load: ``sys.lazy_modules`` (the names declared,
  not yet reified) tells, at startup completion and at stop.
- **never**: at stop, a statement still waiting, its module still in ``sys.lazy_modules``.

Declared-but-never-used is not a load. Nothing of this is installed before 3.15.
"""

from __future__ import annotations

import sys
import threading
TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    from types import FrameType
    from typing import Any, Callable, Dict, List, Optional, Tuple

    Filter = Callable[[str, str, Optional[Tuple[str, ...]]], Any]

from otel_import_tracer import messages
import otel_import_tracer.collectors.frames as frames
from otel_import_tracer.naming import SourceRoot
from otel_import_tracer.registry import (
    LAZY_DECLARED,
    LAZY_NEVER,
    LAZY_REIFIED,
    SOURCE_IMPORT,
    DependencyLoad,
    LazyImport,
    Listener,
    ModuleLoad,
    Registry,
)

# The one global slot, while a collector runs: the interpreter holds ``_filter``; the
# application's filter lives in ``_theirs``; the functions found on ``sys`` in ``_found``.
_running: Optional["LazyImportCollector"] = None
_theirs: Optional[Filter] = None
_found: Optional[Tuple[Callable[[Any], None], Callable[[], Any]]] = None
_slot_lock = threading.RLock()
_inherited: List[LazyImport] = []  # a forked child's: its parent's statements still waiting
_UNSEEN = object()  # a file the root's classify cache has no answer for yet
_getframe = sys._getframe
_current_thread = threading.current_thread

# What ``sys`` had when this module was imported: for a stand-in called after tracing stopped.
_SYS_SET = getattr(sys, "set_lazy_imports_filter", None)
_SYS_GET = getattr(sys, "get_lazy_imports_filter", None)
_FIND_AND_LOAD = sys.modules["importlib._bootstrap"]._find_and_load.__code__
# Set at the first lazy declaration: only then can a use of a name load a module (reify it).
_any_declared = False
# The opcodes of an import statement (IMPORT_NAME, IMPORT_FROM) and ``_opcode.has_name``: a load
# whose importing frame stands at another instruction with a name (LOAD_NAME, LOAD_GLOBAL,
# LOAD_ATTR...) was made by a use of a lazy name, not by an import statement.
_OPCODES: Optional[Tuple[frozenset, Callable[[int], bool]]] = None


def _filter(importer: str, name: str, fromlist: Optional[Tuple[str, ...]]) -> Any:
    """The filter in the interpreter's slot: the application's decision, noted when it stays lazy.

    Called at every lazy declaration of the process (the libraries' too, with every import lazy):
    a statement of the root's code costs a dict lookup (the root's answer for the file) and one
    tuple appended; anything else, the lookup alone."""
    global _any_declared
    _any_declared = True
    collector = _running
    if collector is None:
        theirs = _theirs
        return True if theirs is None else theirs(importer, name, fromlist)
    frame = _getframe(1)
    if collector.plan and not collector.lazy_without_plan(frame, name):
        return False  # lazy only because plan mode made every import lazy, and not the root's: eager as ever
    theirs = _theirs
    decision = True if theirs is None else theirs(importer, name, fromlist)
    if decision:
        try:
            filename = frame.f_code.co_filename
            hit = collector._files.get(filename, _UNSEEN)
            if hit is _UNSEEN:
                hit = collector._root.classify(filename)
            if hit is not None:
                collector._raw.append((name, fromlist, hit, frame.f_lineno, collector._now(), _current_thread()))
        except Exception as exc:  # never into the application's import statement
            messages.internal_error(exc)
    return decision


def set_lazy_imports_filter(filter: Optional[Filter]) -> None:
    """``sys.set_lazy_imports_filter`` while import tracing runs: the filter is the application's
    to decide with; tracing's stays in the slot and asks it first."""
    global _theirs
    with _slot_lock:
        found = _found
        if found is None:  # called through a reference kept after tracing stopped
            _SYS_SET(filter)  # type: ignore[misc]
            return
        found[0](filter)  # the interpreter's own checks and errors (not callable: TypeError)
        _theirs = filter
        found[0](_filter)


def get_lazy_imports_filter() -> Optional[Filter]:
    """``sys.get_lazy_imports_filter`` while import tracing runs: the application's filter."""
    found = _found
    if found is None:
        return _SYS_GET()  # type: ignore[misc]
    return _theirs


class LazyImportCollector(Listener):
    """Records the root's lazy import statements and what became of them (see the module docstring)."""

    name = "lazy"

    def __init__(self, registry: Registry, root: SourceRoot, plan: bool = False) -> None:
        self._registry = registry
        self._root = root
        # Plan mode: the global lazy mode is "all" while tracing runs, and the filter keeps it to
        # the root's code. The mode found is given back at stop.
        self.plan = plan
        self._mode_found: Optional[str] = None
        self._lock = threading.RLock()  # reentrant: a SIGTERM handler's stop may come while it is held
        # Module name -> the statements waiting for it (``lazy from x import y`` waits for x and x.y).
        self._pending: Dict[str, List[LazyImport]] = {}
        self._installed = False
        # The filter's notes, (name, fromlist, (file, module), line, ns, thread), not records yet (_drain).
        self._raw: List[Tuple[Any, ...]] = []
        # classify's answers by file name, read by the filter without a call (a miss asks classify)
        files = getattr(root, "_cache", None)
        self._files: Dict[str, Any] = files if isinstance(files, dict) else {}
        self._now = registry.clock.now_ns

    def start(self) -> None:
        global _running, _theirs, _found
        with _slot_lock:
            if _running is not None:
                return  # one session per process; never two wrappers in one slot
            found = (sys.set_lazy_imports_filter, sys.get_lazy_imports_filter)
            _theirs = found[1]()
            _found = found
            _running = self
            found[0](_filter)
            sys.set_lazy_imports_filter = set_lazy_imports_filter
            sys.get_lazy_imports_filter = get_lazy_imports_filter
            self._installed = True
            self._registry.lazy_drain = self._drain
            self._take_inherited()
            if self.plan:
                self._mode_found = sys.get_lazy_imports()
                sys.set_lazy_imports("all")
                self._registry.lazy_plan = True  # said by the report and app.startup
        self._registry.subscribe(self)
        if self.plan:
            messages.info(
                "lazy plan mode (IMPORT_TRACING_LAZY_PLAN): every module-level import statement under "
                f"{self._root.root} is lazy for this run (imports elsewhere are unchanged; the application's "
                "lazy-imports filter still decides), to see which are used and when; an import kept only for "
                "its side effects does not run unless something uses it. For staging, not production: "
                "then run 'otel-import-tracer lazy' on the reports."
            )

    def _take_inherited(self) -> None:
        global _inherited
        inherited, _inherited = _inherited, []
        for lazy in inherited:
            if self._registry.add_lazy_import(lazy):
                for target in _targets(lazy):
                    self._pending.setdefault(target, []).append(lazy)

    def lazy_without_plan(self, frame: FrameType, name: str) -> bool:
        """Whether this import would be lazy without plan mode: the root's code (plan mode's own),
        an explicit ``lazy`` statement, a name in the module's ``__lazy_modules__``, or the global
        mode was already "all"."""
        try:
            if self._mode_found == "all" or self._root.classify(frame.f_code.co_filename) is not None:
                return True
            code = frame.f_code.co_code
            if code[frame.f_lasti + 1] & 1:  # IMPORT_NAME's oparg: bit 0 set by the lazy keyword
                return True
            listed = frame.f_globals.get("__lazy_modules__")
            return bool(listed) and name in listed
        except Exception:
            return True  # what we cannot tell, the application's filter decides as without us

    def startup_complete(self) -> None:
        """Statements whose module is no longer waiting (imported by another statement, or
        before they were declared) were reified during startup."""
        self._settle(final=False)

    def stop(self) -> None:
        global _running, _theirs, _found
        self._registry.unsubscribe(self)
        if not self._installed:
            return
        self._settle(final=True)
        self._registry.lazy_drain = None
        with _slot_lock:
            self._installed = False
            found, theirs = _found, _theirs
            _running, _theirs, _found = None, None, None
            if found is None:
                return
            if sys.__dict__.get("set_lazy_imports_filter") is set_lazy_imports_filter:
                sys.set_lazy_imports_filter = found[0]
            if sys.__dict__.get("get_lazy_imports_filter") is get_lazy_imports_filter:
                sys.get_lazy_imports_filter = found[1]
            if found[1]() is _filter:  # else someone reached the slot without us: theirs stays
                found[0](theirs)
            if self._mode_found is not None and sys.get_lazy_imports() == "all":
                sys.set_lazy_imports(self._mode_found)
            self._mode_found = None

    # -- declarations (noted by the filter, in the declaring thread) ------------------------

    def _drain(self) -> None:
        """The filter's notes made records, kept by the registry and waiting for their modules,
        in the order declared."""
        raw = self._raw
        if not raw:
            return
        try:
            with self._lock:
                count = len(raw)  # the filter may append meanwhile (another thread): those stay for next time
                made = _records(raw[:count])
                del raw[:count]
                pending = self._pending
                for lazy in self._registry.add_lazy_imports(made):
                    name = lazy.name
                    group = pending.get(name)
                    if group is None:
                        pending[name] = [lazy]
                    else:
                        group.append(lazy)
                    for item in lazy.fromlist:  # lazy from x import y waits for x.y too (_targets)
                        if item != "*":
                            target = f"{name}.{item}"
                            group = pending.get(target)
                            if group is None:
                                pending[target] = [lazy]
                            else:
                                group.append(lazy)
        except Exception as exc:
            messages.internal_error(exc)

    # -- reifications (registry listener, in the importing thread) --------------------------

    def on_load(self, load: ModuleLoad) -> None:
        if self._raw:
            self._drain()
        if load.name in self._pending:
            self._reified(load.name, load)

    def on_dependency(self, dependency: DependencyLoad) -> None:
        if self._raw:
            self._drain()
        if dependency.name in self._pending:
            self._reified(dependency.name, dependency)
        if _any_declared:
            try:
                dependency.by_use = _by_use(_importing_frame(sys._getframe(1)))
            except Exception as exc:
                messages.internal_error(exc)

    def _reified(self, module: str, load: Any) -> None:
        try:
            with self._lock:
                # A statement waiting for several modules (x and x.y) may have been reified by
                # another: its state says so. Claimed here, under the lock, by one load only.
                waiting = [lazy for lazy in self._pending.pop(module, ()) if lazy.state == LAZY_DECLARED]
                if not waiting:
                    return
                for lazy in waiting:
                    lazy.state = LAZY_REIFIED
            site = _site_of(load, self._root)
            for lazy in waiting:
                lazy.reified_ns = load.start_ns
                lazy.end_ns = load.end_ns
                lazy.loaded = module
                lazy.after_startup = load.lazy
                lazy.forced_thread = load.thread or threading.current_thread().name
                lazy.forced_by, lazy.forced_file, lazy.forced_line = site
            load.reified = waiting[0]
        except Exception as exc:
            messages.internal_error(exc)

    # -- what sys.lazy_modules says --------------------------------------------------------

    def _settle(self, final: bool) -> None:
        """A statement still waits while any module it names is in ``sys.lazy_modules``; every
        other one was reified (its module imported already, or by a load no hook saw); at the
        final settling, one still waiting was never used. Worked out by module, not by statement:
        with every import lazy, a thousand statements wait for a few hundred modules."""
        self._drain()
        try:
            still = _lazy_modules()
            after = self._registry.startup_complete_ns is not None
            with self._lock:
                pending = self._pending
                waiting: Dict[int, LazyImport] = {}
                done: Dict[int, LazyImport] = {}
                for target, group in pending.items():
                    (waiting if target in still else done).update(zip(map(id, group), group))
                for key in done.keys() - waiting.keys():
                    lazy = done[key]
                    if lazy.state == LAZY_DECLARED:
                        lazy.state = LAZY_REIFIED
                        lazy.reified_ns = None  # when is unknown: no load was seen
                        lazy.after_startup = after
                if final:
                    for lazy in waiting.values():
                        if lazy.state == LAZY_DECLARED:
                            lazy.state = LAZY_NEVER
                    pending.clear()
                else:  # what still waits (a statement reified meanwhile through another module is passed over then)
                    self._pending = {target: group for target, group in pending.items() if target in still}
        except Exception as exc:
            messages.internal_error(exc)


def after_fork_in_child() -> None:
    """A forked child stops its parent's collector and starts its own: a thread of the parent
    may have held these locks (declaring or reifying) at the fork."""
    global _slot_lock, _inherited
    _slot_lock = threading.RLock()
    running = _running
    if running is not None:
        running._lock = threading.RLock()
        # Statements the parent declared and nothing used yet (a --preload master's): the child's
        # session takes them over, so that a worker's use reifies them there. Its notes not yet
        # made records too (not through the parent's registry, whose lock a thread may have held).
        _inherited = [lazy.copy() for lazy in _waiting(running._pending)] + _records(list(running._raw))


def _records(notes: List[Tuple[Any, ...]]) -> List[LazyImport]:
    """The filter's notes (``_filter``) as records."""
    return [LazyImport(name, tuple(fromlist) if fromlist else (), hit[1], hit[0], line, ns, thread.name)
            for name, fromlist, hit, line, ns, thread in notes]


def _waiting(pending: Dict[str, List[LazyImport]]) -> List[LazyImport]:
    """The statements still waiting, each once, in the order declared (by identity: a record's ``==``
    compares every field)."""
    seen: Dict[int, LazyImport] = {}
    for group in pending.values():
        for lazy in group:
            if lazy.state == LAZY_DECLARED:
                seen[id(lazy)] = lazy
    return sorted(seen.values(), key=lambda lazy: lazy.declared_ns)


def _targets(lazy: LazyImport) -> List[str]:
    return [lazy.name] + [f"{lazy.name}.{item}" for item in lazy.fromlist if item != "*"]


def _lazy_modules() -> Any:
    """``sys.lazy_modules`` itself, not a copy: only asked whether it holds a name (no iteration
    that another thread reifying could break), and it holds every declaration of the process."""
    return getattr(sys, "lazy_modules", frozenset())


def _learn_opcodes() -> None:
    """IMPORT_NAME and IMPORT_FROM as this Python numbers them, from ``from a import b`` compiled:
    its first two instructions with a name (the third stores ``b``)."""
    global _OPCODES
    if _OPCODES is None:
        import _opcode  # built in: no file to load, nothing the application would import

        code = compile("from a import b", "<opcodes>", "exec").co_code
        named = [code[index] for index in range(0, len(code), 2) if _opcode.has_name(code[index])]
        _OPCODES = (frozenset(named[:2]), _opcode.has_name)


def _by_use(user: Optional[FrameType]) -> bool:
    """Whether ``user``, the frame whose import is loading a module, stands at a use of a name
    (a lazy import's reification) rather than at an import statement or a call."""
    if user is None:
        return False
    if _OPCODES is None:
        _learn_opcodes()  # late: at the first load after a lazy declaration, not before the app's first import
    imports, has_name = _OPCODES  # type: ignore[misc]
    opcode = user.f_code.co_code[user.f_lasti]
    return opcode not in imports and has_name(opcode)


def _importing_frame(frame: Optional[FrameType]) -> Optional[FrameType]:
    """The frame that issued the import now loading (the first one above ``_find_and_load``
    that is not import machinery)."""
    while frame is not None and frame.f_code is not _FIND_AND_LOAD:
        frame = frame.f_back
    return frames.importer_frame(frame.f_back if frame is not None else None)


def _site_of(load: Any, root: SourceRoot) -> Tuple[Optional[str], Optional[str], Optional[int]]:
    """Where the use that reified ``load`` is: (module, file, line)."""
    if isinstance(load, DependencyLoad):
        return load.importer, load.importer_file, load.line
    if load.source != SOURCE_IMPORT or load.end_ns is None:
        return None, None, None  # found in sys.modules, not seen being imported: no use to point at
    user = _importing_frame(sys._getframe(1))
    if user is None:
        return None, None, None
    module, file, line = frames.describe(user, root)
    return module, file or user.f_code.co_filename, line
