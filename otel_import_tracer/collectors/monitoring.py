"""``sys.monitoring`` (PEP 669, Python 3.12+): see each code object start once, then never again.

``PY_START`` fires the first time any code object runs; the callback decides once
(under the root or not), records the file if it is new, and returns ``DISABLE`` so that
location never calls back again. After startup the cost is near zero: only code objects
never run before reach the callback, once each. Callbacks fire on every thread.
"""

from __future__ import annotations

import os
import sys
import threading
from types import CodeType
TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional

from otel_import_tracer import messages
import otel_import_tracer.collectors.frames as frames
from otel_import_tracer.naming import SOURCELESS_SUFFIX, SOURCE_SUFFIX, SourceRoot, imported_name
from otel_import_tracer.registry import Registry

# DEBUGGER_ID 0, COVERAGE_ID 1, PROFILER_ID 2 and OPTIMIZER_ID 5 belong to other tools;
# taking one of them would make that tool fail to start later.
CANDIDATE_TOOL_IDS = (3, 4)
_DISABLE = getattr(getattr(sys, "monitoring", None), "DISABLE", None)
_SEP = os.sep
_DOT, _DOTDOT, _DOUBLE = _SEP + "." + _SEP, _SEP + ".." + _SEP, _SEP + _SEP  # a path classify would normalize
_SUFFIXES = (SOURCE_SUFFIX, SOURCELESS_SUFFIX)  # the files classify looks at
TOOL_NAME = "otel-import-tracer"
# File names the callback remembers as decided: compiled code can be named anything ("<string>",
# generated names); past this many, an undecided name is decided again each time (C string tests).
_MOST_DECIDED = 100_000

_tool_lock = threading.Lock()
_ran_before = False  # DISABLE outlives free_tool_id: a later session must re-enable locations


def after_fork_in_child() -> None:
    """A forked child stops and restarts its parent's collector: a parent's thread may have held the lock."""
    global _tool_lock
    _tool_lock = threading.Lock()


class MonitoringUnavailable(Exception):
    """No sys.monitoring here, or every tool id we may use is taken."""


class MonitoringCollector:
    name = "monitoring"

    def __init__(self, registry: Registry, root: SourceRoot) -> None:
        self._registry = registry
        self._root = root
        self._tool_id: Optional[int] = None
        self._prefixes = root.prefixes

    def start(self) -> None:
        monitoring = getattr(sys, "monitoring", None)
        if monitoring is None:
            raise MonitoringUnavailable("sys.monitoring needs Python 3.12 or newer")
        with _tool_lock:
            for tool_id in CANDIDATE_TOOL_IDS:
                if monitoring.get_tool(tool_id) is None:
                    try:
                        monitoring.use_tool_id(tool_id, TOOL_NAME)
                    except ValueError:  # taken between the check and the claim
                        continue
                    self._tool_id = tool_id
                    break
            else:
                owners = ", ".join(f"{i}: {monitoring.get_tool(i)}" for i in CANDIDATE_TOOL_IDS)
                raise MonitoringUnavailable(f"sys.monitoring tool ids are all taken ({owners})")
        global _ran_before
        try:
            if _ran_before:
                # Code an earlier session saw stays disabled otherwise. This re-arms other
                # tools' disabled locations too: one more callback each, once.
                monitoring.restart_events()
            _ran_before = True
            monitoring.register_callback(self._tool_id, monitoring.events.PY_START, self._callback())
            monitoring.set_events(self._tool_id, monitoring.events.PY_START)
        except BaseException:
            self.stop()  # give the tool id back
            raise

    def stop(self) -> None:
        tool_id, self._tool_id = self._tool_id, None
        if tool_id is None:
            return
        monitoring = sys.monitoring  # type: ignore[attr-defined]
        with _tool_lock:
            monitoring.set_events(tool_id, 0)
            monitoring.register_callback(tool_id, monitoring.events.PY_START, None)
            monitoring.free_tool_id(tool_id)

    def _callback(self) -> Callable[[CodeType, int], Any]:
        """The ``PY_START`` callback: a closure, not a bound method (a call less per code object).

        Called once per code object the process runs (6,000 in a 300-module app's startup), and
        nearly all are dismissed by one dict lookup of the code's file name: the files already
        decided, each one's first code object decided in C (code of no ``.py``/``.pyc`` file:
        ``<string>``, which dataclasses, namedtuple and pydantic compile, 1,500 of them, and
        ``<frozen ...>``; an absolute, normalized file name not under the root; a file of the
        root already recorded) or by classify. Only the rest look at the frames."""
        registry, root, prefixes, knows = self._registry, self._root, self._prefixes, self._registry.knows
        disable, suffixes, sep, dot, dotdot, double = _DISABLE, _SUFFIXES, _SEP, _DOT, _DOTDOT, _DOUBLE
        # File name -> None: decided for good (a file recorded stays recorded, a root stays put).
        # The code objects of one file share its name's string, whose hash the str keeps.
        decided: Dict[str, None] = {}
        most = _MOST_DECIDED

        def on_py_start(code: CodeType, instruction_offset: int) -> Any:
            filename = code.co_filename
            if filename in decided:
                return disable
            if not filename.endswith(suffixes) or (
                    filename.startswith(sep) and (not filename.startswith(prefixes) or knows(filename))
                    and dot not in filename and dotdot not in filename and double not in filename):
                if len(decided) < most:
                    decided[filename] = None
                return disable
            try:
                # Frame 1 is the frame of `code` itself; its caller is who ran it.
                frame = sys._getframe(1)
                hit = root.classify(filename, imported_name(frame.f_globals))
                if hit is not None and not registry.knows(hit[0]):
                    parent = frames.describe(frames.importer_frame(frame.f_back), root)[0]
                    registry.note_executed(hit[0], hit[1], parent, threading.current_thread().name)
                if len(decided) < most:
                    decided[filename] = None  # recorded now, or no file of the root
            except Exception as exc:
                messages.internal_error(exc)
            return disable

        return on_py_start
