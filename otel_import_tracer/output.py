"""What a session says to the process's output: whether its root can be traced at all (said at
start), the note on a root found by itself, the shutdown lines and the summary (said at stop).
``tracing`` decides when; this module holds the words."""

from __future__ import annotations

import os

from otel_import_tracer import messages
from otel_import_tracer.config import DEFAULT_ROOT, IMPORT_TRACING_ROOT

TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    from typing import Optional

    from otel_import_tracer.config import Config
    from otel_import_tracer.naming import SourceRoot
    from otel_import_tracer.registry import Registry


def root_is_usable(config: Config, root: SourceRoot) -> bool:
    """Whether the root can be traced; if not, one warning says why and how to set it."""
    if os.path.dirname(root.root) == root.root:
        messages.warn(
            "root-is-filesystem-root",
            f"{IMPORT_TRACING_ROOT}={config.root!r} is the filesystem root: every Python file "
            "would count as the application's, so nothing is traced. Set it to the directory "
            "holding your application's modules (default /app/src).",
        )
        return False
    if not root.exists():
        if config.root != DEFAULT_ROOT or os.environ.get(IMPORT_TRACING_ROOT, "").strip():
            said = f"{IMPORT_TRACING_ROOT}={config.root!r} is not a directory"
        else:
            said = (f"{IMPORT_TRACING_ROOT} is not set, {config.root} does not exist and the working "
                    "directory holds no Python code of its own")
        messages.warn(
            "missing-root",
            f"{said}, so there is nothing to trace and no hook was installed. Set "
            f"{IMPORT_TRACING_ROOT} to the directory holding your application's modules (default /app/src).",
        )
        return False
    return True


def announce_root(config: Config, root: SourceRoot, grouped: bool) -> None:
    """A root found in the working directory: say which, once per process group (``grouped``: the
    session has telemetry, which knows the group), before the lines."""
    if not config.root_found:
        return
    from otel_import_tracer.telemetry import group

    if not grouped or group.first_to_say("root-found"):
        left_out = ", ".join(config.root_excludes + ("hidden folders", "build", "site-packages"))
        messages.info(
            f"{IMPORT_TRACING_ROOT} is not set and {DEFAULT_ROOT} does not exist: traced the code under the working "
            f"directory {root.root} (not {left_out}); set {IMPORT_TRACING_ROOT} to choose another directory."
        )


def write_lines(registry: Registry, root: SourceRoot) -> None:
    """The shutdown lines (``LOADED_SRC_FILE:``, ``LOADED_MODULE:``)."""
    files, modules = registry.sorted_files_and_modules()
    from otel_import_tracer import logs

    logs.write_block(logs.shutdown_lines(root.root, files, modules))


def summary_is_ours(grouped: bool) -> bool:
    """Whether this process prints the summary: one process per process group (``grouped``: the
    session has telemetry, which knows the group), the first to complete its startup. The workers
    of one server load the same code: one summary at a stop, not one per worker, interleaved. It
    is claimed while they all run (at startup, not at stop), so no worker stopping later finds
    the claim already let go; a worker started after the claimer stopped (a recycled one) says
    its own."""
    if not grouped:
        return True
    from otel_import_tracer.telemetry import group

    return group.first_to_say("summary")


def write_summary(registry: Registry, report_path: Optional[str], grouped: bool = False) -> None:
    """The short summary after the lines; a worker of a server (its group named by a parent) says
    that it speaks for the others, and where theirs are."""
    from otel_import_tracer.reading.render.summary import summary_lines

    lines = summary_lines(registry, report_path)
    if grouped:
        from otel_import_tracer.telemetry import group

        if group.named_by_another():
            where = "their reports" if report_path else "IMPORT_TRACING_REPORT gives each its report"
            lines.append(f"{messages.PREFIX}:   this is pid {os.getpid()}'s summary; it speaks for the other "
                         f"processes of this command, which print none ({where})")
    messages.write_lines(lines)
