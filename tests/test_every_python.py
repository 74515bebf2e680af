"""Every module of the package imports on the running Python, in a fresh interpreter with warnings
as errors. scripts/test.sh runs the reading side's tests (python_independent) and the servers'
(collector_independent) on the oldest and newest Python only: this is what the Pythons between
them still check of that code (syntax, the standard library's names, deprecations on import)."""

from __future__ import annotations

import subprocess
import sys

from tests.support.servers import child_output, clean_env

_IMPORT_ALL = """
import importlib, pkgutil, sys
import otel_import_tracer
names = sorted(info.name for info in pkgutil.walk_packages(otel_import_tracer.__path__, "otel_import_tracer."))
for name in names:
    if name.rsplit(".", 1)[-1] != "__main__":
        importlib.import_module(name)
print(len(names))
"""


def test_every_module_of_the_package_imports_on_this_python() -> None:
    result = subprocess.run([sys.executable, "-W", "error", "-c", _IMPORT_ALL], capture_output=True, text=True,
                            timeout=120, env=clean_env())
    assert result.returncode == 0, child_output(result)
    assert int(result.stdout.split()[-1]) > 50, child_output(result)
