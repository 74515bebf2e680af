"""The import stack, per thread: the timed loads in progress on a thread, innermost last.

A load begun while another is in progress on its thread ran inside that one's import, whichever
code issued it (the module's own statement, a function of another module, ``import_module``):
that one is its ``stack_parent``, and its time is the parent's ``children_ns``, as
``python -X importtime`` nests and counts imports. ``parent``/``importer`` stay the issuer.
Only ``threading`` here: the registry records loads on the import path.
"""

from __future__ import annotations

import threading

TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    from typing import List, Optional, Union

    from otel_import_tracer.registry import DependencyLoad, ModuleLoad

    Stacked = Union[ModuleLoad, DependencyLoad]


class ImportStacks:
    """One stack per thread (a ``threading.local``): only its own thread touches a stack, and the
    loads on it, so no lock."""

    __slots__ = ("_local",)

    def __init__(self) -> None:
        self._local = threading.local()

    def current(self) -> List[Stacked]:
        """This thread's stack."""
        stack: Optional[List[Stacked]] = getattr(self._local, "loads", None)
        if stack is None:
            stack = self._local.loads = []
        return stack

    def innermost(self) -> Optional[Stacked]:
        """The load in progress on this thread that began last, or None."""
        stack: Optional[List[Stacked]] = getattr(self._local, "loads", None)
        return stack[-1] if stack else None

    def push(self, load: Stacked) -> None:
        """``load`` begins: the load in progress on this thread, if any, is its ``stack_parent``."""
        stack = self.current()
        if stack:
            load.stack_parent = stack[-1]
        stack.append(load)

    def pop(self, load: Stacked, duration_ns: int) -> None:
        """``load`` ended after ``duration_ns``: off its thread's stack, its time charged to its stack parent."""
        parent = load.stack_parent
        if parent is not None:
            parent.children_ns += duration_ns
        stack = self.current()
        for index in range(len(stack) - 1, -1, -1):  # innermost first; an inner load that never ended goes too
            if stack[index] is load:
                del stack[index:]
                return
