"""What many processes loaded, keyed by file, with the recorded paths (``/app/src`` in the
container) mapped onto the local root (``./src``), as coverage.py combines its data files."""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from otel_import_tracer.naming import module_name_for, path_for
from otel_import_tracer.reading.records import Process
from otel_import_tracer.reading.sources import Input

@dataclasses.dataclass(**({"slots": True} if sys.version_info >= (3, 10) else {}))
class MergedFile:
    """One file over many processes: in how many it loaded, how many lazily or preloaded."""

    module: str
    processes: int = 0
    lazy: int = 0
    preloaded: int = 0
    last_process: int = 0  # the last process that counted it (no process counts a file twice)


class Merge:
    """Loaded files over many processes (of reports, traces and logs), keyed by file name."""

    def __init__(self) -> None:
        self.files: Dict[str, MergedFile] = {}
        self.inputs = 0

    def add_report(self, report: Process, relocate: Optional[Callable[[str, str], Optional[str]]] = None,
                   name_of: Optional[Callable[[str], str]] = None) -> List[str]:
        """Count a process's modules, placed by ``relocate(file, module)``, each file once; returns the
        files it could not place. A record may lack a name or a file (a log's line carries one of
        them): it is placed by what it has, and named ``name_of(file)``."""
        self.inputs += 1
        unplaced = []
        for entry in report.modules:
            file = entry.file if relocate is None else relocate(entry.file, entry.name)
            if file is None:
                if entry.file:
                    unplaced.append(entry.file)
            else:
                self.add(file, entry.name or (name_of(file) if name_of is not None else ""), entry.lazy, entry.preloaded, self.inputs)
        return unplaced

    def add(self, file: str, module: str, lazy: bool = False, preloaded: bool = False, process: int = 0) -> None:
        """Count ``file`` loaded in one more process; again in the same ``process`` (its number, from 1), once."""
        merged = self.files.get(file)
        if merged is None:
            merged = self.files[file] = MergedFile(module)
        elif process and merged.last_process == process:
            return  # two records of one process placed on the same file (a log's file line and module line)
        merged.last_process = process
        merged.processes += 1
        merged.lazy += lazy
        merged.preloaded += preloaded


def merge(reports: Iterable[Process]) -> Merge:
    """Merge reports taken under the same root (``audit`` remaps roots that differ)."""
    result = Merge()
    for report in reports:
        result.add_report(report)
    return result


# -- mapping recorded paths onto the local root -----------------------------------------


class PathMapper:
    """Recorded file (container path) -> the same file under the local root, or None."""

    # A fleet's reports repeat the same few thousand files; one huge report repeats none, and
    # caching all of its files would hold a second copy of every name.
    MAX_CACHED = 100_000

    def __init__(self, root: str, path_maps: Sequence[Tuple[str, str]] = ()) -> None:
        self.root = os.path.abspath(root)
        self.package = os.path.basename(self.root)
        # Longest prefix first, so /app/src/vendor=... wins over /app/src=...
        self._maps = sorted(((_strip_sep(old), os.path.abspath(new)) for old, new in path_maps), key=lambda item: -len(item[0]))
        # The same files recur in every report of a fleet: map each once.
        self._cache: Dict[Tuple[str, Optional[str], Optional[str]], Optional[str]] = {}

    def relocate(self, file: str, module: Optional[str], recorded_root: Optional[str]) -> Optional[str]:
        """By explicit map, by the input's recorded root, as is, or by the module name."""
        key = (file, module, recorded_root)
        try:
            return self._cache[key]
        except KeyError:
            local = self._relocate(file, module, recorded_root)
            if len(self._cache) < self.MAX_CACHED:
                self._cache[key] = local
            return local

    def _relocate(self, file: str, module: Optional[str], recorded_root: Optional[str]) -> Optional[str]:
        for old, new in self._maps:
            if file.startswith(old + "/"):
                return self._inside(_join(new, file[len(old) + 1 :]))
        if recorded_root and file.startswith(_strip_sep(recorded_root) + "/"):
            rest = file[len(_strip_sep(recorded_root)) + 1 :]
            return self._inside(_join(self.root, rest))
        if self._inside(file):
            return os.path.normpath(file)
        guess = self._by_ancestor(file)
        if guess is None and module:
            guess = self.file_for_module(module)
        return guess

    def file_for_module(self, module: str) -> Optional[str]:
        """The local file of a module name whose first part names the recorded root."""
        local_name = ".".join([self.package] + module.split(".")[1:])
        for candidate in path_for(local_name, self.root):
            if os.path.isfile(candidate):
                return candidate
        return None

    def _by_ancestor(self, file: str) -> Optional[str]:
        """``/somewhere/src/x.py`` with local root ``./src``: the shortest ancestor named like the root."""
        parts = file.split("/")
        for index, part in enumerate(parts[:-1]):
            if part == self.package:
                return self._inside(_join(self.root, "/".join(parts[index + 1 :])))
        return None

    def _inside(self, path: str) -> Optional[str]:
        if _UNNORMALIZED in path or _DOUBLE_SEP in path or path.endswith(os.sep):
            path = os.path.normpath(path)  # only where needed: this runs once per loaded file
        return path if path.startswith(self.root + os.sep) else None


def _join(directory: str, recorded_rest: str) -> str:
    """``directory`` and a recorded ``a/b.py`` (always ``/``-separated) as a local path."""
    return directory + os.sep + (recorded_rest if os.sep == "/" else recorded_rest.replace("/", os.sep))


_UNNORMALIZED = os.sep + "."
_DOUBLE_SEP = os.sep + os.sep


def _strip_sep(path: str) -> str:
    return path.rstrip("/") or "/"


def merge_inputs(inputs: Sequence[Input], mapper: PathMapper) -> Tuple[Merge, List[str]]:
    """Loaded files under the local root over all inputs, and the recorded files that map nowhere."""
    merged = Merge()
    outside: List[str] = []
    for item in inputs:
        for process in item.processes:
            root = process.root or None  # a process seen only by its lazy loads, or grepped log lines, recorded none
            outside.extend(merged.add_report(process, lambda file, module: mapper.relocate(file, module, root),
                                             lambda local: module_name_for(local, mapper.root)))
    return merged, sorted(set(outside))
