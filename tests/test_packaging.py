"""The package as users get it (issue 27): ``python -m build`` gives an sdist and a wheel that
``twine check`` passes, and the wheel, installed (not editable) into a clean environment, traces
an app with one variable: its ``.pth`` file (and on Python 3.15+ its PEP 829 ``.start`` file,
which then replaces the ``.pth`` line) land in site-packages and run as the interpreter starts;
the console script and the demo it carries are there.

Built and installed once per Python (the wheel is the same, the interpreter reading its startup
files is not); the sdist and twine check run on the first Python only.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Dict, Iterator

import pytest

from tests.support.servers import REPO, child_output, clean_env, shutdown_lines

pytestmark = [pytest.mark.slow, pytest.mark.collector_independent]

STARTUP_FILES = ("otel_import_tracer.pth", "otel_import_tracer.start")


def run(argv: list, timeout: float = 600, **kwargs: object) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{argv}\n{child_output(result)}"
    return result


def build(outdir: Path, *args: str) -> None:
    # uv makes the isolated build environment (hatchling): seconds with a warm cache.
    run([sys.executable, "-m", "build", "--installer", "uv", "--outdir", outdir, *args, REPO], env=clean_env())


@pytest.mark.once  # the files and their metadata, not the interpreter
def test_sdist_and_wheel_build_pass_twine_check_and_carry_only_what_they_should(tmp_path: Path) -> None:
    build(tmp_path)  # the sdist, then the wheel built from the sdist: the sdist is complete
    (sdist,) = tmp_path.glob("otel_import_tracer-*.tar.gz")
    (wheel,) = tmp_path.glob("otel_import_tracer-*-py3-none-any.whl")
    checked = run([sys.executable, "-m", "twine", "check", "--strict", sdist, wheel])
    assert checked.stdout.count("PASSED") == 2, checked.stdout
    names = zipfile.ZipFile(wheel).namelist()
    assert set(STARTUP_FILES) <= set(names), [n for n in names if "/" not in n]
    assert "otel_import_tracer/_demo/src/main.py" in names
    assert not [n for n in names if n.startswith(("tests/", "deploy/", "benchmarks/")) or "__pycache__" in n]
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "Classifier: Programming Language :: Python :: 3.15" in metadata
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "otel-import-tracer = otel_import_tracer.cli:main" in entry_points
    # Nothing in the sdist that is not in the repository: no caches, venvs or unpacked Pythons.
    with tarfile.open(sdist) as archive:
        packed = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name} - {"PKG-INFO"}
    packed = {name for name in packed if not any(name == d or name.startswith(d + "/") for d in _directories(packed))}
    if shutil.which("git") and (REPO / ".git").exists():
        tracked = set(run(["git", "-C", REPO, "ls-files"], timeout=60).stdout.splitlines())
        assert packed <= tracked, sorted(packed - tracked)[:20]


def _directories(names: set) -> set:
    return {name.rsplit("/", 1)[0] for name in names if "/" in name} - names


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A clean environment of this Python with the wheel installed (not editable): its python."""
    where = tmp_path_factory.mktemp("wheel-install")
    build(where / "dist", "--wheel")
    (wheel,) = (where / "dist").glob("*.whl")
    venv = where / "venv"
    base = getattr(sys, "_base_executable", None) or sys.executable
    run([sys.executable, "-m", "uv", "venv", "-q", "-p", base, venv], env=clean_env())
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "uv", "pip", "install", "-q", "--python", python, wheel], env=clean_env())
    yield python


def _site_packages(python: Path) -> Path:
    return Path(run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], timeout=60).stdout.strip())


def _only(**env: str) -> Dict[str, str]:
    """Nothing but PATH and what the caller gives: no PYTHONPATH, no OTEL_*, no test settings."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}


def test_the_installed_wheel_traces_an_app_with_one_variable(installed: Path, tmp_path: Path) -> None:
    site = _site_packages(installed)
    present = [name for name in STARTUP_FILES if (site / name).is_file()]
    assert present == list(STARTUP_FILES), sorted(p.name for p in site.iterdir())
    src = tmp_path / "src"
    (src / "services").mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "services" / "__init__.py").write_text("")
    (src / "services" / "orders.py").write_text("ORDERS = []\n")
    (src / "main.py").write_text("from src.services import orders\nprint('app ran', flush=True)\n")
    root = str(src)
    traced = subprocess.run([installed, "-c", "import src.main"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env=_only(ENABLE_IMPORT_TRACING="true", IMPORT_TRACING_ROOT=root))
    assert traced.returncode == 0, child_output(traced)
    assert traced.stdout.count("Stopping runtime file tracing... (pid ") == 1, child_output(traced)  # once, not per startup file
    assert shutdown_lines(traced.stdout)[1] == ["src", "src.main", "src.services", "src.services.orders"], child_output(traced)
    # Off: nothing of the tracer runs and OpenTelemetry is not imported (on 3.15 the .start entry
    # point's module is imported to be called, and returns at once).
    probe = "import sys, src.main; print(sorted(m for m in sys.modules if m.startswith(('otel_import_tracer', 'opentelemetry'))))"
    untraced = subprocess.run([installed, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                              env=_only(IMPORT_TRACING_ROOT=root))
    assert untraced.returncode == 0, child_output(untraced)
    lines = untraced.stdout.splitlines()
    assert lines[0] == "app ran" and len(lines) == 2, child_output(untraced)
    imported = set(ast.literal_eval(lines[1]))
    if sys.version_info >= (3, 15):
        assert "otel_import_tracer.process.bootstrap" in imported, imported
        assert imported <= {"otel_import_tracer", "otel_import_tracer.version", "otel_import_tracer.process", "otel_import_tracer.process.bootstrap"}, imported
    else:
        assert imported == set(), imported
    assert "LOADED_" not in untraced.stdout + untraced.stderr, child_output(untraced)


def test_on_315_the_start_file_runs_and_the_pth_import_line_does_not(installed: Path, tmp_path: Path) -> None:
    if sys.version_info < (3, 15):
        pytest.skip("PEP 829 .start files are read from Python 3.15")
    site = _site_packages(installed)
    verbose = subprocess.run([installed, "-v", "-c", "pass"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                             env=_only(ENABLE_IMPORT_TRACING="true", IMPORT_TRACING_ROOT=str(tmp_path)))
    assert verbose.returncode == 0, child_output(verbose)
    pth, start = site / STARTUP_FILES[0], site / STARTUP_FILES[1]
    assert f"import lines in {pth} are suppressed due to matching {start} file." in verbose.stderr, verbose.stderr[-4000:]
    assert f"Executing entry point: otel_import_tracer.process.bootstrap:start from {start}" in verbose.stderr, verbose.stderr[-4000:]
    assert f"Exec'ing from {pth}" not in verbose.stderr


def test_the_console_script_and_the_demo_it_carries_are_installed(installed: Path) -> None:
    # Run away from the repository: its checkout on sys.path would be found instead of the wheel.
    script = installed.parent / "otel-import-tracer"
    assert script.is_file(), sorted(p.name for p in installed.parent.iterdir())
    helped = run([script, "--help"], timeout=120, env=_only(), cwd=str(installed.parent))
    assert all(command in helped.stdout for command in ("run", "exec", "demo", "audit", "report", "diff")), helped.stdout
    helped = run([script, "demo", "--help"], timeout=120, env=_only(), cwd=str(installed.parent))
    assert "--exercise" in helped.stdout, helped.stdout
    # Not from the repository's directory: `-c` puts the current one first on sys.path.
    found = run([installed, "-c", "from otel_import_tracer.demo import find_demo_dir; print(find_demo_dir())"], timeout=120,
                env=_only(), cwd=str(installed.parent))
    demo = Path(found.stdout.strip())
    assert demo == _site_packages(installed) / "otel_import_tracer" / "_demo", demo  # the wheel's copy, not the repository's
    assert (demo / "src" / "main.py").is_file() and (demo / "src" / "routers" / "reports.py").is_file()
