"""The import hook: one ``sys.meta_path`` finder that sees every import, at a cost per import only.

It sits first in ``sys.meta_path`` and asks the other finders itself, so it sees the
spec of every module about to be imported and returns it unchanged.

A file under the root is timed (start, end, importer, thread) where it executes: while
tracing runs, the source and sourceless file loaders' ``exec_module`` is ``exec_module``
below, a stand-in (``collectors/standins.py``) that does the original's work itself, so
there is no frame more per import level and none of ours in a traceback. It times the
file whoever calls it: the import system, ``importlib.util.LazyLoader`` when the module is
first used, or code running a file through a loader by hand (Airflow's plugins and DAGs:
``SourceFileLoader(name, path).exec_module(module)``, kept in ``sys.modules`` or not).
For a loader whose class's ``exec_module`` is someone else's, the finder shadows
``exec_module`` on that module's own loader instance for the one call instead; the
module's ``__loader__`` and ``__spec__`` stay exactly what the import system made.

It also records failed imports issued by code under the root:

- the module does not exist (no finder has a spec, in a real import, not a probe);
- the module's code raises (for a module under the root, or one imported directly by
  code under the root, such as a third-party package whose own import breaks).

Nothing here may raise into the application: errors in our bookkeeping are reported
once and the import proceeds as if we were not there.
"""

from __future__ import annotations

import os
import sys
import threading
from types import ModuleType

# importlib.machinery's classes, from where it takes them: ``from importlib.machinery import``
# asks it for ``__path__``, which its module ``__getattr__`` answers by importing warnings (3.14+).
_machinery = sys.modules["_frozen_importlib_external"]  # importlib._bootstrap_external, imported or not
ExtensionFileLoader, SourceFileLoader, SourcelessFileLoader = (
    _machinery.ExtensionFileLoader, _machinery.SourceFileLoader, _machinery.SourcelessFileLoader)
TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from otel_import_tracer import messages
import otel_import_tracer.collectors.dependencies as dependencies
import otel_import_tracer.collectors.failures as failures
import otel_import_tracer.collectors.frames as frames
import otel_import_tracer.collectors.standins as standins
from otel_import_tracer.naming import SourceRoot, surely_outside
from otel_import_tracer.registry import SOURCE_EXECUTED, SOURCE_IMPORT, ModuleLoad, Registry

# Loaders the path finder creates one per module, so shadowing a method on the instance
# touches no other module.
_PER_MODULE_LOADERS = (SourceFileLoader, SourcelessFileLoader, ExtensionFileLoader)


if TYPE_CHECKING:
    OnImport = Mapping[str, Callable[[ModuleType], None]]
"""Module name -> called with the module once it has executed (the process glue's server patches)."""


class ImportHookFinder:
    """A meta path finder that finds nothing itself and watches what the others find."""

    # Names no finder had: asked again (an optional import retried on every request), they are
    # left to the other finders at once instead of being looked for twice.
    MAX_MISSING = 10_000

    def __init__(self, registry: Registry, root: SourceRoot, on_import: Optional[OnImport] = None) -> None:
        self._registry = registry
        self._root = root
        self._on_import = on_import or {}
        self._missing: Dict[str, None] = {}
        self.active = False

    def invalidate_caches(self) -> None:
        """``importlib.invalidate_caches()``: a module missing before may exist now."""
        self._missing.clear()

    # The import system calls this with the global import lock held: keep it short, never
    # block on anything that might import.
    def find_spec(self, fullname: str, path: Optional[Sequence[str]] = None, target: Optional[ModuleType] = None) -> Any:
        if not self.active:
            return None
        meta_path = sys.meta_path
        if meta_path and meta_path[0] is not self:
            _step_to_the_front(meta_path, self)
        if fullname in self._missing:
            try:
                self._note_missing(fullname)  # counted, not looked for: the import system still is
            except Exception as exc:
                messages.internal_error(exc)
            return None
        spec = None
        for finder in list(sys.meta_path):
            if finder is self:
                continue
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                # A legacy finder (find_module only, Python < 3.12): let the import system
                # ask everyone in order, as it would without us.
                return None
            spec = find_spec(fullname, path, target)
            if spec is not None:
                break
        try:
            if spec is None:
                if len(self._missing) < self.MAX_MISSING:
                    self._missing[fullname] = None
                self._note_missing(fullname)
            else:
                self._watch(fullname, spec)
        except RecursionError:
            pass  # the application is this deep in imports: its own next call fails the same way
        except Exception as exc:  # our bug must not become the application's
            messages.internal_error(exc)
        return spec

    def _note_missing(self, fullname: str) -> None:
        failures.note_missing(self._registry, self._root, fullname, sys._getframe(2))

    def _watch(self, fullname: str, spec: Any) -> None:
        loader = spec.loader
        if not _can_shadow(loader):
            return  # a loader we cannot safely shadow: the sweeps still record its modules
        after = self._on_import.get(fullname)
        if after is not None:
            _shadow_exec_module(loader, _then(loader, after))
            return
        origin = spec.origin  # most are absolute, normalized and outside the root: dismissed in C
        hit = None if surely_outside(origin, self._root.prefixes) else self._root.classify(origin, fullname)
        if hit is not None:
            if getattr(type(loader), "exec_module", None) is not exec_module:
                _shadow_exec_module(loader, self._timed_exec(loader, hit[0], hit[1]))
            return  # else the stand-in times it
        issued = dependencies.issuer(self._registry, self._root, sys._getframe(2))
        if issued is not None and (issued[3] or self._registry.dependencies_on):
            _shadow_exec_module(loader, dependencies.timed_dependency(self._registry, loader, fullname, issued,
                                                                      _unshadow_exec_module))

    def _timed_exec(self, loader: Any, path: str, name: str) -> Callable[[ModuleType], None]:
        return timed_exec(self._registry, self._root, loader, path, name, SOURCE_IMPORT)


def timed_exec(
    registry: Registry, root: SourceRoot, loader: Any, path: str, name: str, source: str
) -> Callable[[ModuleType], None]:
    """An ``exec_module`` for one call that records the load of ``path`` around the real one."""

    def exec_module(module: ModuleType) -> None:
        _unshadow_exec_module(loader)
        load = None
        parent = parent_file = line = None
        try:
            parent, parent_file, line = frames.describe(frames.importer_frame(sys._getframe(1)), root)
            load = registry.begin_load(path, name, parent, threading.current_thread().name, source)
        except Exception as exc:
            messages.internal_error(exc)
        try:
            loader.exec_module(module)
        except Exception as exc:
            failures.record_exec_failure(registry, name, parent, parent_file, line, exc)
            raise
        finally:
            if load is not None:
                registry.end_load(load)

    return exec_module


def shadow_exec_module(loader: Any, replacement: Callable[[ModuleType], None]) -> bool:
    """Put ``replacement`` on this loader instance for one call; False if it cannot be done safely."""
    if not _can_shadow(loader):
        return False
    _shadow_exec_module(loader, replacement)
    return True


def _then(loader: Any, after: Callable[[ModuleType], None]) -> Callable[[ModuleType], None]:
    """Execute the module, then hand it to ``after`` (whose failure is ours, not the importer's)."""

    def exec_module(module: ModuleType) -> None:
        _unshadow_exec_module(loader)
        loader.exec_module(module)
        try:
            after(module)
        except Exception as exc:
            messages.internal_error(exc)

    return exec_module


# (registry, root) of each running session: replaced whole, so the stand-in reads it without a lock.
_HOOKED: Tuple[Tuple[Registry, SourceRoot], ...] = ()
_hooked_lock = threading.Lock()
_UNDER_A_ROOT: Tuple[str, ...] = ()  # the prefixes of their roots
_SEP = os.sep  # a path not starting with it is relative: classify() makes it absolute
# The loader classes whose exec_module is the stand-in while a session runs.
_STAND_IN_FOR = (SourceFileLoader, SourcelessFileLoader)
_bootstrap = sys.modules["_frozen_importlib"]
_bootstrap_external = _machinery
_call_with_frames_removed = _bootstrap._call_with_frames_removed
# Who calls exec_module for an import: the import system (a load, a reload) and LazyLoader's module.
# (LazyLoader's, in importlib.util, which the tracer does not import: see _by_import.)
_IMPORTING = {id(_bootstrap._load_unlocked.__code__), id(_bootstrap._exec.__code__)}


def _by_import(code: Any) -> bool:
    """Whether ``code``, calling exec_module, is the import system's (or LazyLoader's module)."""
    if id(code) in _IMPORTING:
        return True
    lazy = getattr(getattr(sys.modules.get("importlib.util"), "_LazyModule", None), "__getattribute__", None)
    return lazy is not None and code is getattr(lazy, "__code__", None)

# Per session whose root holds the file: its load (None if it ran before), module name, importer.
if TYPE_CHECKING:
    Begun = List[Tuple[Registry, Optional[ModuleLoad], str, Tuple[Optional[str], Optional[str], Optional[int]]]]


def exec_module(self: Any, module: ModuleType) -> None:
    """``_LoaderBasics.exec_module``, timing a file under the root (see the module docstring)."""
    path = self.path  # a file outside the roots (every module outside them) costs two string checks
    watched = _HOOKED and (type(path) is not str or path.startswith(_UNDER_A_ROOT) or not path.startswith(_SEP))
    begun = _begin_exec(self) if watched else None
    try:
        code = self.get_code(module.__name__)
        if code is None:
            raise ImportError(f"cannot load module {module.__name__!r} when get_code() returns None")
        if begun is not None and code.co_filename != path: _alias(begun, code.co_filename)  # noqa: E701
        _call_with_frames_removed(exec, code, module.__dict__)
    except Exception as exc:
        if begun is not None:
            _exec_failed(begun, exc)
        raise
    finally:
        if begun is not None:
            _end(begun)


# The lines of get_code() and of the module's execution in exec_module, after its def line.
_EXEC_MODULE_LINES = (6, 10)


def _place_exec_module() -> None:
    original = _bootstrap_external._LoaderBasics.exec_module
    lines = standins.code_lines(original.__code__)
    first = original.__code__.co_firstlineno
    theirs = (min(line for line in lines if line > first), max(lines))
    standins.take_place_of(exec_module, original, _EXEC_MODULE_LINES, theirs)


def _begin_exec(loader: Any) -> Optional[Begun]:
    """The loads that ``loader``'s file begins, one per session whose root holds it, or None."""
    try:
        begun = None
        path = os.fspath(loader.path)
        for registry, root in _HOOKED:
            caller = sys._getframe(2)  # 0 is ours, 1 the stand-in
            source = SOURCE_IMPORT if _by_import(caller.f_code) else SOURCE_EXECUTED
            # Loaded by hand, the loader's name is its caller's choice: the path names the file.
            hit = root.classify(path, loader.name if source == SOURCE_IMPORT else None)
            if hit is None:
                continue
            importer = frames.describe(frames.importer_frame(caller), root)
            # A file run again (imported again after it failed): no new load, but its failure counts.
            load = registry.begin_load(hit[0], hit[1], importer[0], threading.current_thread().name, source)
            begun = begun or []
            begun.append((registry, load, hit[1], importer))
        return begun
    except RecursionError:
        return None  # the application is this deep in imports: its own next call fails the same way
    except Exception as exc:
        messages.internal_error(exc)
        return None


def _alias(begun: Begun, claimed: str) -> None:
    """A sourceless module's code names its ``.py`` (often gone): the execution collectors will see
    that name, and must know the load is recorded under the ``.pyc``."""
    try:
        for registry, _, _, _ in begun:
            registry.alias(claimed)
    except Exception as exc:
        messages.internal_error(exc)


def _exec_failed(begun: Begun, exc: BaseException) -> None:
    for registry, _, name, importer in begun:
        failures.record_exec_failure(registry, name, *importer, exc)


def _end(begun: Begun) -> None:
    try:
        for registry, load, _, _ in begun:
            if load is not None:
                registry.end_load(load)
    except Exception as exc:
        messages.internal_error(exc)


def after_fork_in_child() -> None:
    """A forked child stops and restarts its parent's collectors: a parent's thread may have held the lock."""
    global _hooked_lock
    _hooked_lock = threading.Lock()


def _watch_roots() -> None:
    global _UNDER_A_ROOT
    _UNDER_A_ROOT = tuple(prefix for _, root in _HOOKED for prefix in root.prefixes)


def _hook_loaders(registry: Registry, root: SourceRoot) -> None:
    global _HOOKED
    with _hooked_lock:
        if not _HOOKED:
            for loader_class in _STAND_IN_FOR:
                if "exec_module" not in vars(loader_class):  # not patched by someone else
                    loader_class.exec_module = exec_module  # type: ignore[assignment]
        _HOOKED = _HOOKED + ((registry, root),)
        _watch_roots()


def _unhook_loaders(registry: Registry, root: SourceRoot) -> None:
    global _HOOKED
    with _hooked_lock:
        _HOOKED = tuple(hooked for hooked in _HOOKED if hooked != (registry, root))
        _watch_roots()
        if not _HOOKED:
            for loader_class in _STAND_IN_FOR:
                if vars(loader_class).get("exec_module") is exec_module:  # someone patched over us: theirs stays
                    del loader_class.exec_module


class ImportHookCollector:
    """Installs the finder first in ``sys.meta_path`` and removes it on stop."""

    name = "importhook"

    def __init__(self, registry: Registry, root: SourceRoot, on_import: Optional[OnImport] = None) -> None:
        self._finder = ImportHookFinder(registry, root, on_import)
        self._on_import = on_import or {}
        self._session = (registry, root)

    def start(self) -> None:
        _hook_loaders(*self._session)
        self._finder.active = True
        sys.meta_path.insert(0, self._finder)
        for name, after in self._on_import.items():  # imported before tracing started
            module = sys.modules.get(name)
            if module is not None:
                try:
                    after(module)
                except Exception as exc:
                    messages.internal_error(exc)

    def reinstate(self) -> None:
        """Put the finder back if ``sys.meta_path`` was rebuilt without it (the app or a library
        assigning a new list): the loads since had no timings, the next ones will."""
        if self._finder.active and self._finder not in sys.meta_path:
            sys.meta_path.insert(0, self._finder)
            _warn_replaced()

    def stop(self) -> None:
        # Deactivate first: another thread may still be inside find_spec with its own copy.
        self._finder.active = False
        _unhook_loaders(*self._session)
        try:
            sys.meta_path.remove(self._finder)
        except ValueError:
            _warn_replaced()  # someone rebuilt sys.meta_path; nothing of ours is left in it


def _warn_replaced() -> None:
    messages.warn(
        "meta-path-replaced",
        "sys.meta_path was replaced by a list without import tracing's finder; failed imports and "
        "dependency timings meanwhile went unrecorded (the modules themselves are). Add finders "
        "with sys.meta_path.insert() or .append() instead of assigning a new list.",
    )


def _step_to_the_front(meta_path: list, finder: ImportHookFinder) -> None:
    """A finder put ahead of ours (``insert(0, ...)``) would hide its modules' timings: move ours
    first again. Safe while the import system iterates the list: the finders after ours keep
    their places, those before move one up (one may be asked twice, none is skipped), and ours
    asks the others in their order, so what each import finds is unchanged."""
    try:
        meta_path.remove(finder)
    except ValueError:
        return  # called from a copy of a list it is no longer in
    meta_path.insert(0, finder)


def _can_shadow(loader: Any) -> bool:
    """A loader made for one module whose ``exec_module`` is still its class's own.

    Not ``vars(loader)``: from Python 3.11 an instance keeps its attributes inline until its
    ``__dict__`` is asked for, and asking makes a dict that stays: 64 bytes for every module
    of the process."""
    if not isinstance(loader, _PER_MODULE_LOADERS):
        return False
    bound = getattr(loader, "exec_module", None)
    return getattr(bound, "__func__", None) is getattr(type(loader), "exec_module", None)


def _shadow_exec_module(loader: Any, replacement: Callable[[ModuleType], None]) -> None:
    try:
        loader.exec_module = replacement
    except (AttributeError, TypeError):
        pass  # a loader with __slots__ or a read-only attribute: the sweep still sees the module


def _unshadow_exec_module(loader: Any) -> None:
    try:
        del loader.exec_module
    except AttributeError:
        pass


# Our exec_module wrappers sit between the import machinery and the module: shown as the
# machinery, they are trimmed from the application's tracebacks as it is, and skipped as importers.
_place_exec_module()
for _wrapper_maker in (timed_exec, _then, dependencies.timed_dependency):
    standins.disguise(_wrapper_maker, exec_module.__code__.co_filename)
frames.MACHINERY_FILES.add(_begin_exec.__code__.co_filename)
