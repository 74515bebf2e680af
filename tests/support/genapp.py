"""Write throwaway packages of many modules for tests: each module imports the previous
few, so loads nest, and every module defines a function so code runs."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import List, Optional


def unique_package_name(prefix: str = "gen") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def write_package(
    parent: Path, n_modules: int, name: Optional[str] = None, fan_in: int = 2, within: str = ""
) -> List[str]:
    """Create ``parent/<name>/`` with ``mod0 … mod{n-1}``; returns the module names, package first.

    ``within`` is the dotted name of the package ``parent`` is, when it is one.
    """
    name = name or unique_package_name()
    dotted = f"{within}.{name}" if within else name
    package = parent / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f'"""Generated package {name}."""\n')
    names = [dotted]
    for index in range(n_modules):
        imports = "".join(
            f"from {dotted} import mod{dep}\n" for dep in range(max(0, index - fan_in), index)
        )
        (package / f"mod{index}.py").write_text(
            f"{imports}\nVALUE = {index}\n\n\ndef compute(x):\n    return x + VALUE\n"
        )
        names.append(f"{dotted}.mod{index}")
    return names


def write_module(path: Path, source: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    init = path.parent / "__init__.py"
    if not init.exists():
        init.write_text("")
    path.write_text(source)
    return path


def module_file(root_parent: Path, module: str) -> str:
    parts = module.split(".")
    base = root_parent.joinpath(*parts)
    if (base / "__init__.py").exists():
        return str(base / "__init__.py")
    return os.fspath(base.with_suffix(".py"))


def write_wide_app(parent: Path, n_modules: int, per_package: int = 100, package: str = "src") -> List[str]:
    """A FastAPI app ``<package>.main:app`` importing ``n_modules`` modules, three levels deep at
    most (deep import chains would hit the recursion limit, real apps are wide, not deep).
    Returns every module name the app loads at startup."""
    root = parent / package
    gen = root / "gen"
    gen.mkdir(parents=True)
    (root / "__init__.py").write_text("")
    names = [package, f"{package}.main", f"{package}.gen"]
    subpackages = []
    for start in range(0, n_modules, per_package):
        sub = f"g{start // per_package}"
        subpackages.append(sub)
        (gen / sub).mkdir()
        modules = [f"m{index}" for index in range(start, min(start + per_package, n_modules))]
        (gen / sub / "__init__.py").write_text(
            "".join(f"from {package}.gen.{sub} import {module}\n" for module in modules)
        )
        for module in modules:
            # Each module also uses the first module of the app: a cached import, not a load.
            (gen / sub / f"{module}.py").write_text(
                f"from {package}.gen.g0 import m0 as first\n\nNAME = {module!r}\n\n\ndef f():\n    return NAME\n"
                if module != "m0" else "NAME = 'm0'\n"
            )
            names.append(f"{package}.gen.{sub}.{module}")
        names.append(f"{package}.gen.{sub}")
    (gen / "__init__.py").write_text("".join(f"from {package}.gen import {sub}\n" for sub in subpackages))
    (root / "main.py").write_text(  # unmodified: nothing of the tracer in it
        "from fastapi import FastAPI\n\n"
        f"from {package} import gen\n\n"
        "app = FastAPI()\n\n\n"
        "@app.get('/health')\n"
        "def health():\n"
        "    return {'status': 'ok'}\n"
    )
    return names
