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
