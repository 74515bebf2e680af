"""Never-loaded files: what many processes loaded (reports, container logs) against every ``.py`` under the root.

As coverage.py combines per-process data files with path remapping, the audit merges any
number of reports and logs, maps the paths they recorded (``/app/src`` in the container)
onto the local root (``./src``), and diffs that against a walk of the root. Loaded is not
used: a module that was imported may still hold dead code (coveragepy#643).
"""


import dataclasses
import fnmatch
import functools
import os
from typing import Dict, List, Sequence, Tuple

from otel_import_tracer.naming import SOURCE_SUFFIX, module_name_for
from otel_import_tracer.reading.kinds import counts
from otel_import_tracer.reading.merge import Merge, PathMapper, merge_inputs
from otel_import_tracer.reading.sources import LOG, REPORT, TRACE, Input

_SKIPPED_DIRS = ("__pycache__",)


# -- the codebase -----------------------------------------------------------------------


def inventory(root: str, excludes: Sequence[str] = ()) -> Dict[str, str]:
    """Every ``.py`` file under ``root`` not excluded, with its module name."""
    root = os.path.abspath(root)
    files: Dict[str, str] = {}
    # A directory linked into the root is imported through the link, so its files are recorded
    # under the root: follow links, once per real directory (a link to an ancestor loops).
    visited = {os.path.realpath(root)}
    for directory, subdirs, names in os.walk(root, followlinks=True):
        kept = []
        for sub in sorted(subdirs):
            if sub in _SKIPPED_DIRS or sub.startswith("."):
                continue
            real = os.path.realpath(os.path.join(directory, sub))
            if real not in visited:
                visited.add(real)
                kept.append(sub)
        subdirs[:] = kept
        for name in names:
            path = os.path.join(directory, name)
            if name.endswith(SOURCE_SUFFIX) and not is_excluded(path, root, excludes):
                files[path] = module_name_for(path, root)
    return files


def is_excluded(path: str, root: str, excludes: Sequence[str]) -> bool:
    """Globs match the path relative to the root (``legacy/*``), or the absolute path."""
    if not excludes:
        return False  # the common case, asked once per loaded file: no relpath
    relative = os.path.relpath(path, root).replace(os.sep, "/")
    return any(fnmatch.fnmatchcase(relative, glob) or fnmatch.fnmatchcase(path, glob) for glob in excludes)


# -- the audit --------------------------------------------------------------------------


@dataclasses.dataclass
class AuditResult:
    """The inventory of the root against what the inputs loaded there."""

    root: str
    files: Dict[str, str]  # every file of the inventory -> module
    merged: Merge
    outside_root: List[str]  # recorded files that map to nothing under the root
    missing_locally: List[str]  # mapped under the root, but no such file here (code changed?)
    reports: int
    logs: int
    traces: int = 0  # trace files (OTLP JSON)
    traced_processes: int = 0  # the processes in them
    kinds: List[Tuple[str, int]] = dataclasses.field(default_factory=list)  # (kind, processes): kinds.counts

    @functools.cached_property
    def never_loaded(self) -> List[str]:
        """Sorted once: the outputs ask for it several times."""
        return sorted(file for file in self.files if file not in self.merged.files)

    @property
    def loaded_count(self) -> int:
        return len(self.files) - len(self.never_loaded)

    @property
    def loaded_percent(self) -> float:
        return round(100.0 * self.loaded_count / len(self.files), 1) if self.files else 0.0


def audit(inputs: Sequence[Input], root: str, excludes: Sequence[str] = (), path_maps: Sequence[Tuple[str, str]] = ()) -> AuditResult:
    """Merge the inputs onto ``root`` and compare with its files."""
    mapper = PathMapper(root, path_maps)
    files = inventory(mapper.root, excludes)
    merged, outside = merge_inputs(inputs, mapper)
    missing = sorted(
        file for file in merged.files if file not in files and not is_excluded(file, mapper.root, excludes) and not os.path.isfile(file)
    )
    kinds = [item.kind for item in inputs]
    traced = sum(len(item.processes) for item in inputs if item.kind == TRACE)
    by_kind = counts([process for item in inputs for process in item.processes])
    return AuditResult(mapper.root, files, merged, outside, missing, kinds.count(REPORT), kinds.count(LOG), kinds.count(TRACE), traced,
                       by_kind)


def package_of(file: str, root: str) -> str:
    """The dotted name of the directory holding ``file``: files are grouped by it."""
    relative = os.path.relpath(os.path.dirname(file), os.path.dirname(root))
    return ".".join(relative.split(os.sep))


def never_loaded_by_package(result: AuditResult) -> List[Tuple[str, int, List[str]]]:
    """``(package, files in the package, never-loaded files)`` for each package with any."""
    sizes: Dict[str, int] = {}
    for file in result.files:
        package = package_of(file, result.root)
        sizes[package] = sizes.get(package, 0) + 1
    groups: Dict[str, List[str]] = {}
    for file in result.never_loaded:
        groups.setdefault(package_of(file, result.root), []).append(file)
    return [(package, sizes[package], groups[package]) for package in sorted(groups)]


