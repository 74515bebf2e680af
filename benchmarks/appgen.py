"""Generate a realistic FastAPI application of N modules for the benchmarks.

``generate_app(dest_dir, n_modules)`` writes a package ``src/`` under ``dest_dir``
laid out by layer, the way services of that size usually are::

    src/main.py                  FastAPI(lifespan=lifespan), includes every router (unmodified)
    src/config/                  settings (a pydantic model instance), constants
    src/utils/<area>/...         helpers: regexes, enums, small classes, pure functions
    src/models/<area>/...        pydantic models, some referencing models of other modules
    src/services/<area>/...      service classes, dataclasses, lru_cache'd lookups
    src/routers/<area>/...       APIRouter with 3 endpoints each (response models, Depends);
                                 the area's __init__ gathers them under one APIRouter
    src/routers/diagnostics.py   GET /ping (trivial) and GET /work (call-heavy)

Areas are subpackages, some nested one level further. Every module imports a few
earlier ones (a DAG: utils < models < services < routers), chosen with a bias towards
a few popular modules and towards neighbours in the same package, so there are hubs
with large fan-in and modules with large fan-out, as in real code. Some package
``__init__`` files re-export a name from a dependency-free first child. Module-level
code does what real module-level code does: constants, compiled regexes, enums,
dataclasses, pydantic models, calls into imported helpers.

Every generated module is imported at startup (``GeneratedApp.module_names`` is that
ground truth, with exactly ``n_modules`` names). ``/work`` calls a fixed number of
small Python functions spread over many modules (``GeneratedApp.work_calls``), so
a per-call tracing cost shows in its throughput; ``/ping`` does nearly nothing, so
fixed per-request costs show in its.

Generation is deterministic for a given ``(n_modules, seed)``.
"""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
from typing import Dict, List, Optional, Sequence, Tuple

PACKAGE = "src"
APP_SPEC = "src.main:app"
MIN_MODULES = 20

# Share of the free module budget per layer, in import order.
LAYERS: Tuple[Tuple[str, float], ...] = (
    ("utils", 0.20),
    ("models", 0.25),
    ("services", 0.38),
    ("routers", 0.17),
)

# How many services /work calls into, and how often it goes round them per request.
WORK_STEPS = 48
WORK_ROUNDS = 4
# Calls per f_<id>(): itself, its local _mix, and two imported g() (each g + 2 helpers).
_CALLS_PER_STEP = 8

_AREAS = (
    "billing orders customers inventory shipping payments catalog pricing accounts auth "
    "notifications reports analytics search media reviews loyalty support audit scheduling "
    "tenants webhooks exports imports tax fraud promotions subscriptions warehouses suppliers "
    "returns invoices ledger contracts documents messaging onboarding compliance partners "
    "quotas usage identity sessions devices locations routing fleet pickups refunds disputes"
).split()
_WORDS = (
    "core handlers validators mappers schemas queries rules policies helpers formatters parsers "
    "clients adapters repository cache events commands views serializers filters pagination "
    "errors types enums constants tasks jobs metrics converters builders factories registry "
    "selectors resolvers loaders writers readers matchers scoring windows limits quotas "
    "normalizers encoders decoders checks guards transforms aggregates snapshots"
).split()
_STDLIB_IMPORTS = (
    "import re",
    "import json",
    "import math",
    "import enum",
    "import uuid",
    "import hashlib",
    "import datetime",
    "import itertools",
    "import functools",
    "import collections",
    "import decimal",
    "import dataclasses",
)


@dataclasses.dataclass(frozen=True)
class GeneratedApp:
    """A generated application on disk."""

    dest_dir: str
    """Directory holding ``src/``: the working directory and ``sys.path`` entry of the app."""
    root: str
    """``dest_dir/src``: what ``IMPORT_TRACING_ROOT`` and ``coverage --source`` point at."""
    module_names: Tuple[str, ...]
    """Every module the app imports at startup, sorted: the ground truth (``n_modules`` names)."""
    work_calls: int
    """Python function calls ``/work`` makes in the generated code per request (approximate)."""
    app_spec: str = APP_SPEC

    @property
    def n_modules(self) -> int:
        return len(self.module_names)

    def files(self) -> List[str]:
        """Absolute paths of the ground-truth modules' files."""
        paths = []
        for name in self.module_names:
            base = os.path.join(self.dest_dir, *name.split("."))
            package_init = os.path.join(base, "__init__.py")
            paths.append(package_init if os.path.isfile(package_init) else base + ".py")
        return sorted(paths)


@dataclasses.dataclass
class _Module:
    name: str
    layer: str
    uid: int
    is_package: bool = False
    deps: List["_Module"] = dataclasses.field(default_factory=list)
    pure: bool = False  # imports nothing from src: safe to re-export from its package
    reexport: Optional["_Module"] = None  # for a package: the child whose f() it re-exports
    model: Optional[str] = None  # models layer: the main pydantic model class
    service: Optional[str] = None  # services layer: the service class

    @property
    def short(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    @property
    def package(self) -> str:
        return self.name.rsplit(".", 1)[0]


PROFILES = ("default", "wide", "libraries")
"""``wide``: what real services of ~1,100 modules do that the default app does not (issue 25: 1.08x
there where the default app gives 1.03x): a third of the modules are small ones (a constant and a
function), loaded by a plugin loader (``importlib.import_module`` in a loop, called from
``src.main``'s body) and by a thread that ``src.main`` starts first and joins last (imports on two
threads at once), and every module imports 4-8 modules from outside the root out of ~50 of the
standard library (many distinct dependency loads, each timed).

``libraries``: the default app, and twice as many modules outside the root, in libraries its code
imports (``appgen_libraries.py``): measured on two real API servers, most of a startup is its
dependencies' (1,357 and 1,755 modules loaded outside the app's code, against 634 and 371 of it),
where the default app loads 355 outside its 1,000."""


def generate_app(dest_dir: str, n_modules: int, seed: int = 0, profile: str = "default") -> GeneratedApp:
    """Write ``dest_dir/src`` (replacing any previous one) and describe it."""
    if n_modules < MIN_MODULES:
        raise ValueError(f"n_modules must be at least {MIN_MODULES}, got {n_modules}")
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    wide = profile == "wide" and n_modules >= 2 * MIN_MODULES
    extra = n_modules // 3 if wide else 0
    plan = _Plan(n_modules - extra, random.Random(f"otel-import-tracer-bench-{seed}-{n_modules}"), wide=wide)
    modules = plan.build()
    if wide:
        _plan_wide(plan, extra)  # adds to plan.modules, which modules is
    root = os.path.join(os.path.abspath(dest_dir), PACKAGE)
    if os.path.isdir(root):
        shutil.rmtree(root)
    for entry in (os.listdir(dest_dir) if os.path.isdir(dest_dir) else ()):
        if entry.startswith("lib_"):
            shutil.rmtree(os.path.join(dest_dir, entry))
    if profile == "libraries":
        from benchmarks.appgen_libraries import write_libraries

        plan.libraries = write_libraries(os.path.abspath(dest_dir), 2 * n_modules, plan.rng)
    for module in modules:
        _write(os.path.abspath(dest_dir), module, _render(module, plan))
    names = tuple(sorted(module.name for module in modules))
    assert len(names) == n_modules, (len(names), n_modules)
    steps = len(plan.work_steps)
    return GeneratedApp(
        dest_dir=os.path.abspath(dest_dir),
        root=root,
        module_names=names,
        work_calls=WORK_ROUNDS * steps * _CALLS_PER_STEP + 1,
    )


class _Plan:
    """Decides the modules, their packages and their imports."""

    def __init__(self, n_modules: int, rng: random.Random, wide: bool = False) -> None:
        self.n = n_modules
        self.rng = rng
        self.wide = wide
        self.plugins: List[_Module] = []  # wide: loaded by src.plugins.load_all()
        self.background: List[_Module] = []  # wide: imported by a thread src.main starts
        self.libraries: List[str] = []  # libraries: modules outside the root the app's code imports
        self.modules: List[_Module] = []
        self.by_layer: Dict[str, List[_Module]] = {}
        self.packages: Dict[str, _Module] = {}
        self.work_steps: List[_Module] = []
        self._names: set = set()

    def build(self) -> List[_Module]:
        fixed = [
            self._add(PACKAGE, "package", is_package=True),
            self._add("src.config", "package", is_package=True),
            self._add("src.config.settings", "config"),
            self._add("src.config.constants", "config"),
        ]
        for layer, _ in LAYERS:
            fixed.append(self._add(f"src.{layer}", "package", is_package=True))
        workload = self._add("src.services.workload", "workload")
        diagnostics = self._add("src.routers.diagnostics", "diagnostics")
        main = self._add("src.main", "main")
        fixed += [workload, diagnostics, main]
        budget = self.n - len(fixed)
        shares = _split(budget, [share for _, share in LAYERS])
        for (layer, _), share in zip(LAYERS, shares):
            self.by_layer[layer] = self._plan_layer(layer, share)
        self._choose_imports()
        self._ensure_imported()
        services = self.by_layer["services"]
        stride = max(1, len(services) // WORK_STEPS)
        self.work_steps = services[::stride][:WORK_STEPS]
        workload.deps = list(self.work_steps)
        diagnostics.deps = [workload]
        # Each area package gathers its routers under one APIRouter, and main includes the
        # areas (as real services do: FastAPI nests one lifespan per include_router, so
        # thousands of routers included one by one into the app overflow the stack).
        areas: Dict[str, _Module] = {}
        for router in self.by_layer["routers"]:
            area = self.packages[".".join(router.name.split(".")[:3])]
            if area.name not in areas:
                area.layer = "router_area"
                areas[area.name] = area
            area.deps.append(router)
        main.deps = [diagnostics] + list(areas.values())
        return self.modules

    def _add(self, name: str, layer: str, is_package: bool = False) -> _Module:
        module = _Module(name=name, layer=layer, uid=len(self.modules), is_package=is_package)
        self.modules.append(module)
        self._names.add(name)
        if is_package:
            self.packages[name] = module
        return module

    def _leaf(self, name: str, layer: str) -> _Module:
        module = self._add(name, layer)
        base = _camel(module.short)
        if layer == "models":
            module.model = f"{base}Record{module.uid}"
        elif layer == "services":
            module.service = f"{base}Service{module.uid}"
        return module

    def _unique(self, parent: str, pool: Sequence[str]) -> str:
        word = self.rng.choice(pool)
        name = f"{parent}.{word}"
        counter = 2
        while name in self._names:
            name = f"{parent}.{word}_{counter}"
            counter += 1
        return name

    def _plan_layer(self, layer: str, budget: int) -> List[_Module]:
        """Subpackages of 4-12 modules, one in eight holding a nested subpackage."""
        leaves: List[_Module] = []
        while budget > 0:
            if budget < 2:
                # No room for a package and a module: add the module to the last package.
                leaves.append(self._leaf(self._unique(leaves[-1].package, _WORDS), layer))
                budget -= 1
                continue
            budget -= self._plan_package(layer, self._unique(f"src.{layer}", _AREAS), budget, leaves, depth=1)
        return leaves

    def _plan_package(self, layer: str, name: str, budget: int, leaves: List[_Module], depth: int) -> int:
        package = self._add(name, "package", is_package=True)
        used = 1
        size = self.rng.randint(4, 12)
        first: Optional[_Module] = None
        for _ in range(size):
            left = budget - used
            if left <= 0:
                break
            if first is not None and depth < 3 and left >= 4 and self.rng.random() < 0.12:
                used += self._plan_package(layer, self._unique(name, _WORDS), min(left, self.rng.randint(3, 6)), leaves, depth + 1)
                continue
            leaf = self._leaf(self._unique(name, _WORDS), layer)
            leaves.append(leaf)
            used += 1
            if first is None:
                first = leaf
        assert first is not None  # the first slot is always a module (budget >= 2)
        if layer != "routers" and self.rng.random() < 0.3:
            first.pure = True
            package.reexport = first
        return used

    def _choose_imports(self) -> None:
        """Each leaf imports a few earlier leaves: fan-out per layer, fan-in biased to hubs and neighbours."""
        utils, models, services, routers = (self.by_layer[layer] for layer, _ in LAYERS)
        wanted = {
            "utils": ((utils, 0, 3),),
            "models": ((utils, 1, 2), (models, 0, 2)),
            "services": ((utils, 1, 2), (models, 1, 3), (services, 0, 2)),
            "routers": ((services, 1, 3), (models, 1, 2)),
        }
        position = {module.name: index for index, module in enumerate(self.modules)}
        for layer, _ in LAYERS:
            for module in self.by_layer[layer]:
                if module.pure:
                    continue
                chosen: List[_Module] = []
                for pool, low, high in wanted[layer]:
                    earlier = [m for m in pool if position[m.name] < position[module.name]]
                    for _ in range(self.rng.randint(low, high)):
                        pick = self._pick(module, earlier)
                        if pick is not None and pick not in chosen:
                            chosen.append(pick)
                module.deps = chosen

    def _pick(self, module: _Module, candidates: List[_Module]) -> Optional[_Module]:
        if not candidates:
            return None
        neighbours = [m for m in candidates if m.package == module.package]
        if neighbours and self.rng.random() < 0.4:
            return self.rng.choice(neighbours)
        # Early modules of a layer are the popular ones ("common", "base"): weight 1/sqrt(rank).
        weights = [1.0 / (rank + 1) ** 0.5 for rank in range(len(candidates))]
        return self.rng.choices(candidates, weights=weights)[0]

    def _ensure_imported(self) -> None:
        """Give every leaf that nobody imports an importer later in the order (keeps the DAG)."""
        order = [m for layer, _ in LAYERS for m in self.by_layer[layer]]
        imported = {dep.name for module in order for dep in module.deps}
        consumers = {"utils": ("utils", "models", "services"), "models": ("models", "services", "routers"),
                     "services": ("services", "routers")}
        for index, module in enumerate(order):
            if module.layer == "routers" or module.name in imported:
                continue
            later = [m for m in order[index + 1 :] if m.layer in consumers[module.layer] and not m.pure]
            importer = self.rng.choice(later) if later else None
            if importer is None:
                importer = self.by_layer["routers"][-1]
            importer.deps.append(module)
            imported.add(module.name)


def _split(total: int, shares: Sequence[float]) -> List[int]:
    """``total`` split by ``shares``, at least 2 each, summing to ``total`` exactly."""
    parts = [max(2, int(total * share)) for share in shares]
    parts[-1] += total - sum(parts)
    if parts[-1] < 2:
        raise ValueError(f"{total} modules are not enough to fill every layer")
    return parts


# -- rendering ---------------------------------------------------------------------------------


def _write(dest_dir: str, module: _Module, source: str) -> None:
    parts = module.name.split(".")
    if module.is_package:
        path = os.path.join(dest_dir, *parts, "__init__.py")
    else:
        path = os.path.join(dest_dir, *parts) + ".py"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(source)


def _camel(word: str) -> str:
    return "".join(part.capitalize() for part in word.split("_"))


def _render(module: _Module, plan: _Plan) -> str:
    renderer = {
        "package": _render_package,
        "config": _render_config,
        "utils": _render_utils,
        "models": _render_models,
        "services": _render_services,
        "routers": _render_routers,
        "router_area": _render_router_area,
        "workload": _render_workload,
        "diagnostics": _render_diagnostics,
        "main": _render_main,
        "small": _render_small,
        "plugins": _render_plugins,
        "plugin": _render_fanout,
        "background_package": _render_background_package,
        "background": _render_fanout,
    }[module.layer]
    return renderer(module, plan)


def _render_package(module: _Module, plan: _Plan) -> str:
    lines = [f'"""The {module.short} package."""', ""]
    if module.reexport is not None:
        child = module.reexport
        lines.append(f"from {child.name} import f_{child.uid} as {child.short}_entry  # noqa: F401")
        lines.append("")
        lines.append(f'__all__ = ["{child.short}_entry"]')
    return "\n".join(lines) + "\n"


def _render_config(module: _Module, plan: _Plan) -> str:
    if module.short == "settings":
        return '''"""Application settings, read once at import."""

import os
from typing import List

from pydantic import BaseModel, Field


class Settings(BaseModel):
    service_name: str = "bench-app"
    environment: str = Field(default_factory=lambda: os.environ.get("APP_ENV", "staging"))
    debug: bool = False
    page_size: int = 50
    max_page_size: int = 500
    allowed_origins: List[str] = Field(default_factory=lambda: ["http://localhost"])
    request_timeout_s: float = 30.0


settings = Settings()
'''
    return '''"""Constants shared by the whole application."""

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
DATE_FORMAT = "%Y-%m-%d"
CURRENCIES = ("EUR", "USD", "GBP", "JPY", "CHF")
STATUS_CODES = {name: index for index, name in enumerate(["new", "open", "paid", "void", "late"])}
'''


def _header(module: _Module, plan: _Plan, doc: str) -> List[str]:
    if plan.wide:
        stdlib = sorted(set(plan.rng.sample(_WIDE_IMPORTS, plan.rng.randint(4, 8)) + ["import logging"]))
    else:
        stdlib = sorted(plan.rng.sample(_STDLIB_IMPORTS, plan.rng.randint(2, 4)) + ["import logging"])
    if plan.libraries:
        stdlib += sorted(f"import {name}" for name in plan.rng.sample(plan.libraries, plan.rng.randint(1, 3)))
    lines = [f'"""{doc}"""', ""]
    lines += stdlib
    lines.append("from typing import Dict, List, Optional")
    return lines


def _dep_imports(module: _Module, extra: Optional[Dict[str, List[str]]] = None) -> List[str]:
    lines = []
    for dep in module.deps:
        names = [f"g_{dep.uid}"] if dep.layer != "routers" else []
        if dep.model:
            names.append(dep.model)
        if extra and dep.name in extra:
            names += extra[dep.name]
        lines.append(f"from {dep.name} import {', '.join(sorted(set(names)))}")
    return lines


def _compute_functions(module: _Module, plan: _Plan) -> List[str]:
    """``g_<uid>``: local work (3 calls). ``f_<uid>``: calls up to two imported ``g`` (8 calls)."""
    rng = plan.rng
    uid = module.uid
    k1, k2, k3 = rng.randint(3, 97), rng.randint(1, 1000), rng.randint(1, 50)
    callees = [dep for dep in module.deps if dep.layer != "routers"][:2]
    calls = [f"g_{dep.uid}(x + {i})" for i, dep in enumerate(callees)] or [f"g_{uid}(x)", f"g_{uid}(x + 1)"]
    while len(calls) < 2:
        calls.append(f"g_{uid}(x + 2)")
    return [
        f"def _mix_{uid}(x: int) -> int:",
        f"    return (x * {k1} + {k2}) % 1000003",
        "",
        "",
        f"def _scale_{uid}(x: int) -> int:",
        "    if x % 2:",
        f"        return x // 3 + {k3}",
        f"    return x // 2 - {k3}",
        "",
        "",
        f"def g_{uid}(x: int) -> int:",
        '    """A leaf of the call graph: two local helpers."""',
        f"    return _scale_{uid}(_mix_{uid}(x)) + OFFSET_{uid}",
        "",
        "",
        f"def f_{uid}(x: int) -> int:",
        '    """The entry point other modules call."""',
        f"    return ({' + '.join(calls)} + _mix_{uid}(x)) % 1000003",
    ]


def _render_utils(module: _Module, plan: _Plan) -> str:
    rng = plan.rng
    uid = module.uid
    name = _camel(module.short)
    lines = _header(module, plan, f"{name} helpers.")
    if "import re" not in lines:
        lines.insert(2, "import re")
    if "import enum" not in lines:
        lines.insert(2, "import enum")
    lines += _dep_imports(module)
    lines += [
        "",
        "logger = logging.getLogger(__name__)",
        "",
        f"OFFSET_{uid} = {rng.randint(1, 999)}",
        f"LIMIT_{uid} = {rng.choice([10, 50, 100, 250, 1000])}",
        f'PREFIX_{uid} = "{module.short}-{uid}"',
        f"TABLE_{uid} = {{i: (i * {rng.randint(2, 9)}) % {rng.randint(11, 97)} for i in range({rng.randint(8, 40)})}}",
    ]
    if rng.random() < 0.5:
        lines.append(
            f'PATTERN_{uid} = re.compile(r"^(?P<{module.short[:8]}>[a-z]{{{rng.randint(1, 4)},{rng.randint(5, 12)}}})'
            f'-(?P<n{uid}>\\d+)(?:\\.{rng.choice(["json", "csv", "xml", "txt"])})?$")'
        )
    if rng.random() < 0.4:
        members = rng.sample(["LOW", "MEDIUM", "HIGH", "NONE", "ALL", "SOME", "FIRST", "LAST", "OTHER"], rng.randint(3, 6))
        lines += ["", "", f"class {name}Kind{uid}(enum.Enum):"]
        lines += [f'    {member} = "{member.lower()}"' for member in members]
    lines += [
        "",
        "",
        f"class {name}Helper{uid}:",
        f'    """Stateful helper around {module.short}."""',
        "",
        f"    def __init__(self, limit: int = LIMIT_{uid}) -> None:",
        "        self.limit = limit",
        "        self.seen: Dict[str, int] = {}",
        "",
        "    def normalize(self, value: str) -> str:",
        '        value = value.strip().lower().replace(" ", "-")',
        "        self.seen[value] = self.seen.get(value, 0) + 1",
        "        return value[: self.limit]",
        "",
        "    def chunk(self, items: List[int], size: int = 10) -> List[List[int]]:",
        "        return [items[i : i + size] for i in range(0, len(items), size)]",
        "",
        "    def summary(self) -> Dict[str, int]:",
        '        return {"distinct": len(self.seen), "total": sum(self.seen.values())}',
        "",
        "",
        f"def slugify_{uid}(text: str, separator: str = \"-\") -> str:",
        "    words = [word for word in text.lower().split() if word]",
        "    return separator.join(words)",
        "",
        "",
        f"def clamp_{uid}(value: int, low: int = 0, high: int = LIMIT_{uid}) -> int:",
        "    return max(low, min(high, value))",
        "",
        "",
    ]
    lines += _compute_functions(module, plan)
    lines += ["", "", f"DEFAULT_{uid} = g_{uid}({rng.randint(1, 100)})", f"HELPER_{uid} = {name}Helper{uid}()", ""]
    return "\n".join(lines)


_FIELD_TYPES = (
    ("name", "str", '""'),
    ("amount", "float", "0.0"),
    ("quantity", "int", "0"),
    ("active", "bool", "True"),
    ("note", "Optional[str]", "None"),
    ("tags", "List[str]", "Field(default_factory=list)"),
    ("attributes", "Dict[str, int]", "Field(default_factory=dict)"),
    ("code", "str", 'Field(default="", max_length=64)'),
    ("priority", "int", "Field(default=0, ge=0, le=10)"),
    ("ratio", "Optional[float]", "None"),
)


def _render_models(module: _Module, plan: _Plan) -> str:
    rng = plan.rng
    uid = module.uid
    base = _camel(module.short)
    lines = _header(module, plan, f"{base} data models.")
    lines.append("from pydantic import BaseModel, Field")
    lines += _dep_imports(module)
    lines += ["", f"OFFSET_{uid} = {rng.randint(1, 999)}", ""]
    model_deps = [dep for dep in module.deps if dep.model]
    for index in range(rng.randint(1, 3)):
        cls = module.model if index == 0 else f"{base}Part{uid}_{index}"
        lines += ["", f"class {cls}(BaseModel):", f'    """A {module.short} record."""', "", "    id: int = 0"]
        for field_name, field_type, default in rng.sample(_FIELD_TYPES, rng.randint(3, 7)):
            lines.append(f"    {field_name}: {field_type} = {default}")
        if index == 0 and model_deps:
            lines.append(f"    parent: Optional[{rng.choice(model_deps).model}] = None")
        lines += [
            "",
            "    def label(self) -> str:",
            f'        return "{module.short}-%d" % self.id',
            "",
        ]
    lines += [""]
    lines += _compute_functions(module, plan)
    lines += [
        "",
        "",
        f"def to_payload_{uid}(record: {module.model}) -> Dict[str, object]:",
        '    return {"id": record.id, "label": record.label()}',
        "",
        "",
        f"EXAMPLE_{uid} = {module.model}(id={rng.randint(1, 99)})",
        "",
    ]
    return "\n".join(lines)


def _render_services(module: _Module, plan: _Plan) -> str:
    rng = plan.rng
    uid = module.uid
    base = _camel(module.short)
    lines = _header(module, plan, f"{base} service: business rules over the models.")
    for needed in ("import dataclasses", "import functools"):
        if needed not in lines:
            lines.insert(2, needed)
    if rng.random() < 0.6:
        lines.append("from src.config.settings import settings")
        page = "settings.page_size"
    else:
        lines.append("from src.config.constants import DEFAULT_PAGE_SIZE")
        page = "DEFAULT_PAGE_SIZE"
    lines += _dep_imports(module)
    callee = next((dep for dep in module.deps if dep.layer != "routers"), None)
    lines += [
        "",
        "logger = logging.getLogger(__name__)",
        "",
        f"OFFSET_{uid} = {rng.randint(1, 999)}",
        f"RETRY_LIMIT_{uid} = {rng.randint(1, 5)}",
        f'FEATURE_FLAGS_{uid} = {{"fast_path": {rng.choice(["True", "False"])}, "audit": {rng.choice(["True", "False"])}}}',
        "",
        "",
        "@dataclasses.dataclass",
        f"class {base}Options{uid}:",
        f"    limit: int = {page}",
        "    strict: bool = False",
        f'    label: str = "{module.short}"',
        f"    retries: int = RETRY_LIMIT_{uid}",
        "",
        "",
        f"class {module.service}:",
        f'    """Operations on {module.short}."""',
        "",
        f"    def __init__(self, options: Optional[{base}Options{uid}] = None) -> None:",
        f"        self.options = options or {base}Options{uid}()",
        "        self._cache: Dict[int, int] = {}",
        "",
        "    def get(self, item_id: int) -> int:",
        "        if item_id in self._cache:",
        "            return self._cache[item_id]",
        f"        value = f_{uid}(item_id)",
        "        self._cache[item_id] = value",
        "        return value",
        "",
        "    def list(self, limit: int = 10) -> List[int]:",
        "        return [self.get(i) for i in range(min(limit, self.options.limit))]",
        "",
        "    def describe(self) -> Dict[str, object]:",
        '        return {"label": self.options.label, "cached": len(self._cache)}',
        "",
        "",
        "@functools.lru_cache(maxsize=128)",
        f"def lookup_{uid}(key: str) -> int:",
        "    return sum(ord(char) for char in key) % 97",
        "",
        "",
    ]
    lines += _compute_functions(module, plan)
    lines += [
        "",
        "",
        f"_service_{uid} = {module.service}()",
        "",
        "",
        f"def get_service_{uid}() -> {module.service}:",
        f"    return _service_{uid}",
        "",
        "",
        f"WARM_{uid} = {'g_%d' % callee.uid if callee else 'g_%d' % uid}({rng.randint(1, 100)})",
        "",
    ]
    return "\n".join(lines)


def _render_routers(module: _Module, plan: _Plan) -> str:
    uid = module.uid
    model_dep = next((dep for dep in module.deps if dep.model), None)
    service_dep = next((dep for dep in module.deps if dep.service), None)
    assert model_dep is not None and service_dep is not None, module.name
    area = module.package.split(".")[2] if module.package.count(".") >= 2 else "misc"
    extra = {service_dep.name: [service_dep.service, f"get_service_{service_dep.uid}"]}
    model = model_dep.model
    lines = [
        f'"""HTTP endpoints for {module.short}."""',
        "",
        "from typing import List",
        "",
        "from fastapi import APIRouter, Depends, HTTPException",
        "",
    ]
    lines += _dep_imports(module, extra)
    lines += [
        "",
        f'router = APIRouter(prefix="/{area}/{module.short}-{uid}", tags=["{area}"])',
        "",
        "",
        f'@router.get("/", response_model=List[{model}])',
        f"async def list_{uid}(limit: int = 10) -> List[{model}]:",
        f"    return [{model}(id=i) for i in range(min(limit, 5))]",
        "",
        "",
        f'@router.get("/{{item_id}}", response_model={model})',
        f"async def get_{uid}(item_id: int, service: {service_dep.service} = Depends(get_service_{service_dep.uid})) -> {model}:",
        "    if item_id < 0:",
        '        raise HTTPException(status_code=404, detail="not found")',
        f"    return {model}(id=service.get(item_id) % 1000)",
        "",
        "",
        f'@router.post("/", response_model={model}, status_code=201)',
        f"async def create_{uid}(body: {model}) -> {model}:",
        "    return body",
        "",
    ]
    return "\n".join(lines)


def _render_router_area(module: _Module, plan: _Plan) -> str:
    lines = [f'"""The {module.short} API: every router of the area under one APIRouter."""', "",
             "from fastapi import APIRouter", ""]
    lines += [f"from {router.name} import router as router_{router.uid}" for router in module.deps]
    lines += ["", "router = APIRouter()"]
    lines += [f"router.include_router(router_{router.uid})" for router in module.deps]
    return "\n".join(lines) + "\n"


def _render_workload(module: _Module, plan: _Plan) -> str:
    lines = ['"""The call-heavy part of /work: a pass over many services\' entry points."""', ""]
    lines += [f"from {dep.name} import f_{dep.uid}" for dep in module.deps]
    lines += ["", "STEPS = ("]
    lines += [f"    f_{dep.uid}," for dep in module.deps]
    lines += [
        ")",
        "",
        "",
        f"def run(rounds: int = {WORK_ROUNDS}) -> int:",
        f'    """{len(module.deps)} steps per round, each about {_CALLS_PER_STEP} Python calls."""',
        "    total = 0",
        "    for round_index in range(rounds):",
        "        for step in STEPS:",
        "            total = (total + step(round_index + total % 7)) % 1000003",
        "    return total",
        "",
    ]
    return "\n".join(lines)


def _render_diagnostics(module: _Module, plan: _Plan) -> str:
    return f'''"""Benchmark endpoints: /ping (trivial) and /work (many small Python calls)."""

from fastapi import APIRouter

from src.services.workload import run

router = APIRouter(tags=["diagnostics"])


@router.get("/ping")
async def ping() -> dict:
    return {{"ok": True}}


@router.get("/work")
async def work(rounds: int = {WORK_ROUNDS}) -> dict:
    return {{"result": run(rounds)}}
'''


def _render_main(module: _Module, plan: _Plan) -> str:
    routers = module.deps[1:]
    lines = [
        '"""The application: every router and a lifespan, unmodified: nothing of the tracer in it."""',
        "",
        "import logging",
        "from contextlib import asynccontextmanager",
        "",
        "from fastapi import FastAPI",
        "",
        "from src.config.constants import MAX_PAGE_SIZE",
        "from src.config.settings import settings",
        "from src.routers.diagnostics import router as diagnostics_router",
    ]
    lines += [f"from {area.name} import router as {area.short}_router" for area in routers]
    lines += [
        "",
        "logger = logging.getLogger(__name__)",
        "",
        "",
        "@asynccontextmanager",
        "async def lifespan(app: FastAPI):",
        '    logger.info("starting %s", settings.service_name)',
        "    app.state.route_count = len(app.routes)",
        "    app.state.max_page_size = min(settings.max_page_size, MAX_PAGE_SIZE)",
        "    yield",
        '    logger.info("stopping %s", settings.service_name)',
        "",
        "",
        "app = FastAPI(title=settings.service_name, lifespan=lifespan)",
        "app.include_router(diagnostics_router)",
    ]
    lines += [f"app.include_router({area.short}_router)" for area in routers]
    if plan.wide:
        # The thread imports while the main thread imports the routers; the plugins load in the body.
        lines[2:2] = [
            "import threading",
            "",
            "import src.background",
            "",
            '_background = threading.Thread(target=src.background.import_all, name="background-imports")',
            "_background.start()",
        ]
        lines += ["", "from src.plugins import load_all", "", "PLUGINS = load_all()", "_background.join()"]
    return "\n".join(lines) + "\n"


# -- the wide profile ----------------------------------------------------------------------------

_WIDE_IMPORTS = tuple(f"import {name}" for name in (
    "argparse base64 binascii bisect calendar cmd code codeop colorsys configparser contextvars copy csv "
    "difflib email.message email.utils filecmp fnmatch fractions ftplib getpass gettext glob graphlib gzip "
    "heapq hmac html html.parser http.cookies imaplib ipaddress locale mimetypes netrc numbers optparse "
    "pickle plistlib poplib pprint pstats queue sched secrets shelve shlex smtplib socketserver statistics "
    "string struct tarfile textwrap timeit tracemalloc unicodedata uuid wave xml.dom.minidom "
    "xml.etree.ElementTree xmlrpc.client zipfile"
).split())


def _plan_wide(plan: _Plan, extra: int) -> List[_Module]:
    """``extra`` more modules: packages src.small, src.plugins, src.background and their modules."""
    added = [plan._add("src.small", "package", is_package=True), plan._add("src.plugins", "plugins", is_package=True),
             plan._add("src.background", "background_package", is_package=True)]
    budget = extra - len(added)
    n_plugins = max(1, budget * 3 // 10)
    n_background = max(1, budget // 5)
    n_small = budget - n_plugins - n_background
    small = [plan._add(f"src.small.s_{index}", "small") for index in range(n_small)]
    plan.plugins = [plan._add(f"src.plugins.p_{index}", "plugin") for index in range(n_plugins)]
    plan.background = [plan._add(f"src.background.b_{index}", "background") for index in range(n_background)]
    importers = plan.plugins + plan.background
    for index, module in enumerate(small):  # each small module imported at least once
        importers[index % len(importers)].deps.append(module)
    for importer in importers:
        importer.deps += plan.rng.sample(small, min(len(small), 2)) if small else []
        importer.deps = sorted({module.uid: module for module in importer.deps}.values(), key=lambda module: module.uid)
    return added + small + plan.plugins + plan.background


def _render_small(module: _Module, plan: _Plan) -> str:
    return "\n".join([
        f'"""Small module {module.uid}."""', "",
        *sorted(plan.rng.sample(_WIDE_IMPORTS, plan.rng.randint(1, 3))), "",
        f"VALUE_{module.uid} = {plan.rng.randint(1, 1000)}", "", "",
        f"def g_{module.uid}(x: int) -> int:",
        f"    return x + VALUE_{module.uid}",
    ]) + "\n"


def _render_fanout(module: _Module, plan: _Plan) -> str:
    lines = [f'"""A {module.layer} of the wide profile."""', ""]
    lines += sorted(plan.rng.sample(_WIDE_IMPORTS, plan.rng.randint(4, 8)))
    lines.append("")
    lines += [f"from {dep.name} import g_{dep.uid}" for dep in module.deps]
    total = " + ".join(f"g_{dep.uid}(1)" for dep in module.deps) or "0"
    lines += ["", f"TOTAL_{module.uid} = {total}"]
    return "\n".join(lines) + "\n"


def _render_plugins(module: _Module, plan: _Plan) -> str:
    names = ", ".join(f'"{plugin.short}"' for plugin in plan.plugins)
    return "\n".join([
        '"""The plugin loader: every plugin, by name, through importlib."""', "",
        "import importlib", "",
        f"NAMES = ({names},)", "", "",
        "def load_all():",
        '    return [importlib.import_module(f"src.plugins.{name}") for name in NAMES]',
    ]) + "\n"


def _render_background_package(module: _Module, plan: _Plan) -> str:
    names = ", ".join(f'"{background.short}"' for background in plan.background)
    return "\n".join([
        '"""Imported on a thread of its own while the main thread imports the rest."""', "",
        "import importlib", "",
        f"NAMES = ({names},)", "", "",
        "def import_all():",
        "    for name in NAMES:",
        '        __import__(f"src.background.{name}")',
    ]) + "\n"
