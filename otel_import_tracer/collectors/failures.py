"""Failed imports as the import hook records them: once, where each failure starts."""

from __future__ import annotations

import threading

TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    from types import FrameType
    from typing import Optional

from otel_import_tracer import messages
import otel_import_tracer.collectors.frames as frames
from otel_import_tracer.naming import SourceRoot
from otel_import_tracer.registry import Registry

# Per thread, the failure last recorded, so the imports it unwinds through are not reported again.
_last_failure = threading.local()


def note_missing(registry: Registry, root: SourceRoot, fullname: str, caller: FrameType) -> None:
    """No finder had ``fullname``: a failure if code under the root asked for it in a real import
    (not the import system's probe for ``from package import name``)."""
    if not frames.in_real_import(caller) or frames.in_fromlist_probe(caller):
        return
    name, importer_file, line = frames.describe(frames.importer_frame(caller), root)
    if importer_file is None:
        return  # a third-party probe for an optional dependency: not ours to report
    _last_failure.missing = fullname
    registry.add_failure(fullname, name, importer_file, line, "ModuleNotFoundError", f"No module named {fullname!r}",
                         threading.current_thread().name)


def record_exec_failure(
    registry: Registry,
    name: str,
    parent: Optional[str],
    parent_file: Optional[str],
    line: Optional[int],
    exc: BaseException,
) -> None:
    """Record where a failure starts, not every import it then unwinds through."""
    last = _last_failure
    if isinstance(exc, ModuleNotFoundError) and exc.name is not None and exc.name == getattr(last, "missing", None):
        return  # the missing module, already reported where it was asked for
    signature = (id(exc), type(exc), str(exc))
    if signature == getattr(last, "exception", None):
        return  # the same exception, already reported by the module it came from
    last.exception = signature  # not the exception itself: that would keep its frames alive
    try:
        registry.add_failure(name, parent, parent_file, line, type(exc).__name__, str(exc), threading.current_thread().name)
    except Exception as error:
        messages.internal_error(error)
