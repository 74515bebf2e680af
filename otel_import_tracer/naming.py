"""Path <-> module name under a root, and the root itself when none is configured.

A module's name is the name it was imported under: the import system's (``spec.name``, the
``sys.modules`` key) when that name is the file's path relative to some directory (the
``sys.path`` entry it was imported from), so ``IMPORT_TRACING_ROOT=/proj`` with ``/proj`` on
the path names ``/proj/src/db.py`` ``src.db``, as the code imports it. A file that was not
imported (a script, ``__main__``; a file loaded by hand under a name of its caller's choosing)
is named after its path relative to the root's parent: ``/app/src/models/domain.py`` ->
``src.models.domain``, ``/app/src/models/__init__.py`` -> ``src.models``; in the standard
layout (``/app/src``, ``/app`` on the path) both give the same names. A root found in the
working directory (``find_app_root``) names its files relative to itself: it is the
``sys.path`` entry of its top-level modules.
"""

from __future__ import annotations

import os
import sys
import types
TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

SOURCE_SUFFIX = ".py"
# A sourceless image (``python -m compileall -b``, the ``.py`` files deleted): the import system
# loads ``mod.pyc`` beside where ``mod.py`` was (never from ``__pycache__``).
SOURCELESS_SUFFIX = ".pyc"
_PYCACHE = os.sep + "__pycache__" + os.sep
_UNNORMALIZED = os.sep + "."  # "/./" or "/../" somewhere in the path
_DOUBLE_SEP = os.sep + os.sep


def module_name_for(path: str, root: str) -> str:
    """The module name of ``path``, a ``.py`` (or sourceless ``.pyc``) file under ``root`` (both
    absolute, normalized), derived from the path relative to the root's parent."""
    return module_name_under(path, os.path.dirname(root))


def module_name_under(path: str, parent: str) -> str:
    """The module name of ``path`` relative to the directory ``parent`` (a ``sys.path`` entry)."""
    prefix = parent if parent.endswith(os.sep) else parent + os.sep
    # Plain slicing: this runs once per file on the import path, and relpath is slow.
    relative = path[len(prefix) :] if path.startswith(prefix) else os.path.relpath(path, parent)
    if relative.endswith(SOURCE_SUFFIX):
        stem = relative[: -len(SOURCE_SUFFIX)]
    elif relative.endswith(SOURCELESS_SUFFIX):
        stem = relative[: -len(SOURCELESS_SUFFIX)]
    else:
        stem = relative
    parts = stem.split(os.sep)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def names_file(name: str, path: str) -> bool:
    """Whether ``name`` is the name of ``path`` relative to one of its directories: ``src.db``
    for ``.../src/db.py`` and ``src`` for ``.../src/__init__.py``, never ``__main__``."""
    if not name or name == "__main__":
        return False
    parts = _module_parts(path)
    wanted = name.split(".")
    return parts is not None and len(wanted) < len(parts) and parts[-len(wanted):] == wanted


def _module_parts(path: str) -> Optional[List[str]]:
    """The directories and stem a module name can be taken from (``__init__`` left out), or None
    for a file that is not Python source or bytecode."""
    stem, suffix = os.path.splitext(path)
    if suffix not in (SOURCE_SUFFIX, SOURCELESS_SUFFIX):
        return None
    parts = stem.split(os.sep)
    if parts[-1] == "__init__":
        parts.pop()
    return parts


def imported_name(namespace: Any) -> Optional[str]:
    """The name of the module whose globals are ``namespace`` (a frame's ``f_globals``) if it
    was imported under it (``sys.modules[name]`` is that module), else None: a script runs as
    ``__main__``, a file loaded by hand is in ``sys.modules`` under no name or another's."""
    try:
        name = namespace.get("__name__")
        if not isinstance(name, str) or name == "__main__":
            return None
        module = sys.modules.get(name)
        if module is None or object.__getattribute__(module, "__dict__") is not namespace:
            return None
        return name
    except Exception:
        return None


def registered_name(filename: str) -> Optional[str]:
    """The name ``sys.modules`` holds the module of ``filename`` under (by its ``__file__``), where
    that name names the file: a module made and registered by hand before a bare ``exec`` runs
    its file (a plugin loader), named as the import system and the ``sys.modules`` sweeps name
    it. At most one dict lookup per directory of the path; no code of the module object runs."""
    parts = _module_parts(filename)
    if parts is None:
        return None
    modules = sys.modules
    for start in range(len(parts) - 1, 0, -1):
        name = ".".join(parts[start:])
        module = modules.get(name)
        if module is None or not issubclass(type(module), type(sys)):
            continue
        try:
            if object.__getattribute__(module, "__dict__").get("__file__") == filename:
                return name
        except Exception:
            continue
    return None


def path_for(module_name: str, root: str) -> Tuple[str, str]:
    """The two files a module name can come from: ``pkg/mod.py`` and ``pkg/mod/__init__.py``."""
    base = os.path.join(os.path.dirname(root), *module_name.split("."))
    return base + SOURCE_SUFFIX, os.path.join(base, "__init__" + SOURCE_SUFFIX)


class SourceRoot:
    """Decides whether a file name belongs to the root, caching the answer per file name.

    The cache makes the check a single dict lookup on the hot paths (the settrace
    callback, the monitoring callback, the import hook). File names seen through a
    symlinked or real path of the root are reported under the configured root.
    """

    def __init__(self, root: str, found: bool = False, excludes: Tuple[str, ...] = ()) -> None:
        self.root = os.path.abspath(root)
        # A root found in the working directory (``find_app_root``) is its modules' sys.path
        # entry: path-derived names start below it, and virtualenvs and the like are not in it.
        self.found = found
        self._parent = self.root if found else os.path.dirname(self.root)
        self._excludes = tuple(os.path.join(self.root, name) + os.sep for name in excludes)
        prefixes = [self.root + os.sep]
        real = os.path.realpath(self.root) + os.sep
        if real != prefixes[0]:
            prefixes.append(real)
        self._prefixes = tuple(prefixes)
        self._cache: Dict[str, Optional[Tuple[str, str]]] = {}

    def classify(self, filename: Optional[str], name: Optional[str] = None) -> Optional[Tuple[str, str]]:
        """``(path, module name)`` if ``filename`` is a ``.py`` file under the root, or a sourceless
        ``.pyc`` one (``is_source`` tells them apart), else None.

        ``name``: the name the module was imported under, where the caller knows it (the import
        hook's ``spec.name``, the ``sys.modules`` key, ``imported_name``): kept when it names the
        file (``names_file``), else the name comes from the path. The first answer for a file
        is cached; the cache keeps the import system's string, not a copy of its own, 64 bytes
        less for every module of the process."""
        if not filename or not filename.endswith(SOURCE_SUFFIX):
            if not filename or not filename.endswith(SOURCELESS_SUFFIX) or _PYCACHE in filename:
                return None  # not cached: names like "<string>" or generated code are unbounded
        try:
            return self._cache[filename]
        except KeyError:
            pass
        result = self._classify_uncached(filename, name)
        self._cache[filename] = result
        return result

    def _classify_uncached(self, filename: str, known: Optional[str]) -> Optional[Tuple[str, str]]:
        path = filename
        if not os.path.isabs(path) or _UNNORMALIZED in path or _DOUBLE_SEP in path:
            path = os.path.normpath(os.path.abspath(path))
        for prefix in self._prefixes:
            if path.startswith(prefix):
                if prefix != self._prefixes[0]:
                    path = self._prefixes[0] + path[len(prefix) :]
                if self.found and self._outside_found_root(path):
                    return None
                if known is not None and names_file(known, path):
                    return path, known
                return path, module_name_under(path, self._parent)
        return None

    def _outside_found_root(self, path: str) -> bool:
        """A file of a found root's virtualenv, build output or installed packages."""
        if path.startswith(self._excludes):
            return True
        relative = path[len(self.root) + 1 :].split(os.sep)[:-1]
        return any(part in _NOT_APPLICATION or part.startswith(".") for part in relative)

    @property
    def prefixes(self) -> Tuple[str, ...]:
        """How an absolute, normalized path under the root starts (the root as configured, and
        its real path when that differs)."""
        return self._prefixes

    def exists(self) -> bool:
        return os.path.isdir(self.root)


# Folders of a working directory that hold no code of the application's: installed packages,
# build output, other ecosystems'. Hidden folders (``.venv``, ``.tox``, ``.git``) neither, and
# any folder with a ``pyvenv.cfg`` (a virtualenv of any name) is left out too.
_NOT_APPLICATION = frozenset(
    ("site-packages", "dist-packages", "node_modules", "build", "dist", "__pypackages__", "__pycache__")
)


def find_app_root(directory: str) -> Optional[Tuple[str, Tuple[str, ...]]]:
    """The application's code when no root is configured and the default one does not exist:
    ``directory`` (the working directory) as the root, its own folders that are not the
    application's left out (returned by name), if it holds a Python module or package of its
    own; None if it holds none, or is the filesystem root (every file would be the app's)."""
    directory = os.path.abspath(directory)
    if os.path.dirname(directory) == directory:
        return None
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError:
        return None
    excludes: List[str] = []
    code = False
    for entry in entries:
        try:
            if entry.is_dir():
                if entry.name.startswith(".") or entry.name in _NOT_APPLICATION or entry.name.endswith(".egg-info"):
                    continue
                if os.path.exists(os.path.join(entry.path, "pyvenv.cfg")):
                    excludes.append(entry.name)
                elif not code:
                    code = _holds_python(entry.path)
            elif entry.name.endswith(SOURCE_SUFFIX):
                code = True
        except OSError:
            continue
    return (directory, tuple(excludes)) if code else None


def _holds_python(directory: str, depth: int = 2) -> bool:
    """A ``.py`` file in ``directory`` or a folder of it (``src/app/__init__.py``)."""
    try:
        with os.scandir(directory) as entries:
            folders = []
            for entry in entries:
                if entry.name.endswith(SOURCE_SUFFIX):
                    return True
                if depth > 1 and not entry.name.startswith(".") and entry.name not in _NOT_APPLICATION and entry.is_dir():
                    folders.append(entry.path)
    except OSError:
        return False
    return any(_holds_python(folder, depth - 1) for folder in folders[:100])


def is_source(path: str) -> bool:
    """A ``.py`` file, as the ``LOADED_SRC_FILE`` lines list; not a sourceless ``.pyc``."""
    return path.endswith(SOURCE_SUFFIX)


_DOT, _DOTDOT = os.sep + "." + os.sep, os.sep + ".." + os.sep


def surely_outside(path: object, prefixes: Tuple[str, ...]) -> bool:
    """A file name ``classify`` would dismiss, told in C: absolute, normalized, under none of the
    root's ``prefixes``. Most modules of a process (and the classify cache then keeps no name of theirs)."""
    return (type(path) is str and path.startswith(os.sep) and not path.startswith(prefixes)  # type: ignore[union-attr]
            and _DOT not in path and _DOTDOT not in path and _DOUBLE_SEP not in path)  # type: ignore[operator]


def root_files_in(modules: Mapping[str, object], root: SourceRoot, names: Optional[Iterable[Any]] = None,
                  seen: Optional[List[Any]] = None) -> List[Tuple[str, str]]:
    """``(path, name)`` of each module in ``modules`` (``sys.modules``) whose file is under ``root``.

    ``names``: only these keys of ``modules``. ``seen``: given the names whose module has a file
    name, looked at for good; the others (a builtin, a namespace package, a lazy module not yet
    loaded, not a module) may have one later."""
    found = []
    util = modules.get("importlib.util")
    pending = util.__dict__.get("_LazyModule") if type(util) is types.ModuleType else None
    prefixes = root.prefixes
    entries = list(modules.items()) if names is None else [(name, modules.get(name)) for name in names]  # type: ignore[call-overload]
    module_type, sep = types.ModuleType, os.sep
    for name, module in entries:
        if type(module) is module_type:  # the common case, inline (no call a module): reading __dict__ runs no code
            path = module.__dict__.get("__file__")  # type: ignore[union-attr]
            if not isinstance(path, str):
                continue
        else:
            path = _file_of(module, pending)
            if path is None:
                continue
        if seen is not None:
            seen.append(name)
        if (not path.startswith(prefixes) and type(path) is str and path.startswith(sep)  # surely_outside, inline
                and _DOT not in path and _DOTDOT not in path and _DOUBLE_SEP not in path):
            continue
        hit = root.classify(path, name if isinstance(name, str) else None)
        if hit is not None:
            found.append(hit)
    return found


def _file_of(module: object, pending: Optional[type] = None) -> Optional[str]:
    """``module.__file__`` without running any code of the object's.

    ``type()``, never ``isinstance()``: that asks ``__class__``, which a proxy in ``sys.modules``
    may make a property that raises. A lazily loaded module (``importlib.util.LazyLoader``,
    class ``pending``) has ``__file__`` before it has run: it is loaded when it executes (the
    import hook times it then), not found here; its ``__dict__`` is read directly, as any
    attribute access would execute it.
    """
    kind = type(module)
    if kind is pending or not issubclass(kind, types.ModuleType):
        return None
    try:
        namespace = object.__getattribute__(module, "__dict__")
    except Exception:
        return None
    filename = namespace.get("__file__")
    return filename if isinstance(filename, str) else None

