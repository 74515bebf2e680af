"""Which installed distribution provides an imported name: ``yaml`` -> ``("PyYAML", "6.0.2")``.

Read at stop (the report's dependencies), never on the import path. Reading every installed
distribution's metadata costs a process about 0.5 s of CPU in a large environment, which a
short-lived process (a job's step, a CLI) pays on every run. So:

- a name whose distribution is named alike (``fastapi``, ``pydantic``) is looked up alone;
- the rest take one pass over the installed distributions' metadata (the reading of
  ``importlib.metadata.packages_distributions``, by hand, as 3.9 lacks it);
- answers are kept in a cache file per environment (the interpreter and ``sys.path``),
  valid while no ``sys.path`` entry changed (installing or removing a distribution changes
  its directory's mtime), written atomically; the next process reads them in a millisecond.

The standard library and modules no distribution declares give ``(None, None)``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Dict, Iterable, List, Optional, Tuple

Found = Tuple[Optional[str], Optional[str]]
CACHE_VERSION = 1
XDG_CACHE_HOME = "XDG_CACHE_HOME"

_table: Optional[Dict[str, List[Any]]] = None  # top-level name -> the distributions installing it


def of(module: str) -> Found:
    """The distribution and version that provide ``module`` (its top-level package); never raises."""
    return of_all([module])[module]


def of_all(modules: Iterable[str]) -> Dict[str, Found]:
    """``of`` for each of ``modules``, from the environment's cache file where it has them."""
    names = list(dict.fromkeys(modules))
    cache = _Cache.load()
    found: Dict[str, Found] = {}
    for module in names:
        top = module.partition(".")[0]
        if top in getattr(sys, "stdlib_module_names", ()) or top in sys.builtin_module_names:
            found[module] = (None, None)
        elif module in cache.answers:
            found[module] = cache.answers[module]
        else:
            found[module] = cache.answers[module] = _look_up(module)
            cache.changed = True
    cache.save()
    return found


def _look_up(module: str) -> Found:
    parts = module.split(".")
    try:
        alike = _named_alike(parts[0])
        if alike is not None and (len(parts) == 1 or _holds(alike, parts)):
            return alike.metadata["Name"], alike.version
    except Exception:
        pass
    global _table
    if _table is None:
        try:
            _table = _read()
        except Exception:  # broken metadata of someone's package must not cost the report
            _table = {}
    found = _table.get(parts[0]) or []
    if len(found) > 1:  # a namespace package (opentelemetry, google): the one holding the module
        try:
            found = [dist for dist in found if _holds(dist, parts)] or found
        except Exception:
            pass
    if not found:
        return None, None
    return found[0].metadata["Name"], found[0].version


def _named_alike(top: str) -> Any:
    """The distribution called like the top-level name, if it installs that name (most do)."""
    import importlib.metadata as metadata

    try:
        dist = metadata.distribution(top)
    except metadata.PackageNotFoundError:
        return None
    return dist if top in _top_level(dist) else None


def _read() -> Dict[str, List[Any]]:
    import importlib.metadata as metadata

    table: Dict[str, List[Any]] = {}
    seen = set()
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if not name or name.lower() in seen:  # a distribution on sys.path twice: the first wins, as for imports
            continue
        seen.add(name.lower())
        for top in _top_level(dist):
            table.setdefault(top, []).append(dist)
    return table


def _file_parts(dist: Any) -> List[Tuple[str, ...]]:
    """The parts of each path the distribution installed, from its ``RECORD`` as written:
    ``dist.files`` checks each file exists, one ``stat`` per file of every distribution."""
    record = dist.read_text("RECORD")
    if record is None:
        return [tuple(path.parts) for path in dist.files or ()]
    paths = []
    for line in record.splitlines():
        path = line.rsplit(",", 2)[0] if line.count(",") >= 2 else line
        if path.startswith('"') and path.endswith('"'):  # the csv quoting of a name with a comma
            path = path[1:-1].replace('""', '"')
        if path:
            paths.append(tuple(part for part in path.split("/") if part))
    return paths


def _holds(dist: Any, parts: List[str]) -> bool:
    """Whether the distribution installs the module ``parts`` (a package's directory or a file)."""
    depth = len(parts)
    for file_parts in _file_parts(dist):
        if len(file_parts) > depth and list(file_parts[:depth]) == parts:
            return True  # a file inside the package
        if len(file_parts) == depth and list(file_parts[:-1]) == parts[:-1] and file_parts[-1].split(".", 1)[0] == parts[-1]:
            return True  # the module's own file
    return False


def _top_level(dist: "object") -> List[str]:
    """The top-level names a distribution installs: ``top_level.txt``, else its files."""
    declared = (dist.read_text("top_level.txt") or "").split()  # type: ignore[attr-defined]
    if declared:
        return declared
    names = []
    for parts in _file_parts(dist):
        if not parts or parts[0].endswith((".dist-info", ".egg-info")) or parts[0] in ("..", "__pycache__"):
            continue
        first = parts[0]
        if len(parts) == 1:
            if not first.endswith(".py") and ".cpython-" not in first and not first.endswith(".so"):
                continue
            first = first.split(".", 1)[0]
        if first.isidentifier() and first not in names:
            names.append(first)
    return names


class _Cache:
    """Answers of earlier processes of the same environment, in one small JSON file."""

    def __init__(self, path: Optional[str], stamp: List[Any], answers: Dict[str, Found]) -> None:
        self.path = path
        self.stamp = stamp
        self.answers = answers
        self.changed = False

    @classmethod
    def load(cls) -> "_Cache":
        stamp = _stamp()
        path = _cache_path()
        if path is None:
            return cls(None, stamp, {})
        try:
            with open(path, encoding="utf-8") as handle:
                document = json.load(handle)
            if document.get("version") == CACHE_VERSION and document.get("stamp") == stamp:
                answers = {str(name): (found[0], found[1]) for name, found in document["answers"].items()}
                return cls(path, stamp, answers)
        except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError):
            pass
        return cls(path, stamp, {})

    def save(self) -> None:
        """Write the answers if there are new ones, atomically; a failure only costs the next process time."""
        if not self.changed or self.path is None:
            return
        self.changed = False
        document = {"version": CACHE_VERSION, "stamp": self.stamp, "answers": self.answers}
        temporary = f"{self.path}.{os.getpid()}.tmp"
        try:
            with open(temporary, "w", encoding="utf-8") as handle:
                json.dump(document, handle)
            os.replace(temporary, self.path)
        except OSError:
            try:
                os.unlink(temporary)
            except OSError:
                pass


def _stamp() -> List[Any]:
    """What the answers depend on: the interpreter, and each ``sys.path`` entry holding
    distributions with its mtime (an application's own directory changes for other reasons)."""
    entries: List[Any] = [sys.executable, sys.version]
    for entry in sys.path:
        try:
            if os.path.isdir(entry or "."):
                names = os.listdir(entry or ".")
                holds = any(name.endswith((".dist-info", ".egg-info", ".egg", ".pth")) for name in names)
                entries.append([entry, os.stat(entry or ".").st_mtime_ns if holds else "no distributions"])
            else:
                entries.append([entry, os.stat(entry).st_mtime_ns])  # a zip file or an egg
        except OSError:
            entries.append([entry, None])
    return entries


def _cache_path() -> Optional[str]:
    """The cache file of this environment, in a directory only this user can write; None if none."""
    from otel_import_tracer.telemetry.group import private_directory, user_temp_directory

    import binascii  # not hashlib: OpenSSL's _hashlib alone was 10 ms of a short-lived process's stop

    # Only names the file: the stamp inside says whether its answers hold for this environment.
    text = json.dumps([sys.executable, sys.path]).encode("utf-8", "surrogatepass")
    key = f"{binascii.crc32(text):08x}{binascii.crc32(text, 0x9E3779B9):08x}"
    base = os.environ.get(XDG_CACHE_HOME) or os.path.join(os.path.expanduser("~"), ".cache")
    directory: Optional[str] = os.path.join(base, "otel-import-tracer")
    if not os.path.isabs(base) or not private_directory(directory):  # type: ignore[arg-type]
        directory = user_temp_directory()
    return None if directory is None else os.path.join(directory, f"distributions-{key}.json")
