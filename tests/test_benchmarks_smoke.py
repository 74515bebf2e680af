"""The benchmarks' generated apps. That the benchmarks still run (every variant starts the app, our
collectors and the references record every module of the ground truth, the tables print) is
checked by CI's ``python -m benchmarks.run_all --quick --otlp`` after the suite (``.ci/run``),
which exits 1 otherwise: the quick startup benchmark run here too was the same check again,
80 s of a loaded run (issue 27: a test command a newcomer can wait for).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import appgen
from tests.support.servers import REPO, clean_env

# Nothing here depends on the collector: the per-collector reruns skip it (scripts/test.sh).
pytestmark = pytest.mark.collector_independent


def test_generated_app_has_the_requested_modules(tmp_path: Path) -> None:
    app = appgen.generate_app(str(tmp_path), 60, seed=3)
    assert app.n_modules == 60
    assert set(app.files()) == {str(path) for path in Path(app.root).rglob("*.py")}
    assert {"src", "src.main", "src.routers.diagnostics", "src.services.workload"} <= set(app.module_names)
    again = appgen.generate_app(str(tmp_path / "again"), 60, seed=3)
    assert again.module_names == app.module_names  # deterministic


def test_the_wide_profile_is_loaded_whole_on_two_threads_and_recorded_whole(tmp_path: Path) -> None:
    """The wide app: its plugins (import_module in a loop) and its thread's imports are part of
    the ground truth, which the untraced app imports exactly, and the tracer records whole."""
    app = appgen.generate_app(str(tmp_path), 90, seed=3, profile="wide")
    assert app.n_modules == 90 and set(app.files()) == {str(path) for path in Path(app.root).rglob("*.py")}
    names = set(app.module_names)
    assert any(name.startswith("src.plugins.p_") for name in names) and any(name.startswith("src.background.b_") for name in names)
    code = "import sys, src.main; print('\\n'.join(name for name in sys.modules if name == 'src' or name.startswith('src.')))"
    untraced = subprocess.run([sys.executable, "-c", code], cwd=app.dest_dir, env=clean_env(), capture_output=True, text=True, timeout=120)
    assert untraced.returncode == 0, untraced.stderr[-4000:]
    assert set(untraced.stdout.split()) == names
    traced = subprocess.run(
        [sys.executable, "-c", "import src.main"], cwd=app.dest_dir, capture_output=True, text=True, timeout=120,
        env=clean_env({"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": app.root}),
    )
    assert traced.returncode == 0, traced.stderr[-4000:]
    recorded = {line.split(": ", 1)[1] for line in traced.stdout.splitlines() if line.startswith("LOADED_MODULE: ")}
    assert recorded == names, traced.stderr[-4000:]


def test_the_libraries_profile_loads_most_of_its_modules_outside_the_root(tmp_path: Path) -> None:
    """The libraries app: twice as many modules outside the root as in it (libraries its code imports,
    one loading plugins by name), and the root's ground truth unchanged and recorded whole."""
    app = appgen.generate_app(str(tmp_path), 60, seed=3, profile="libraries")
    assert app.n_modules == 60 and set(app.files()) == {str(path) for path in Path(app.root).rglob("*.py")}
    code = ("import sys, src.main; print(' '.join(name for name in sys.modules if name == 'src' or name.startswith('src.'))); "
            "print(' '.join(name for name in sys.modules if name.startswith('lib_')))")
    untraced = subprocess.run([sys.executable, "-c", code], cwd=app.dest_dir, env=clean_env(), capture_output=True, text=True, timeout=120)
    assert untraced.returncode == 0, untraced.stderr[-4000:]
    ours, libraries = untraced.stdout.splitlines()
    assert set(ours.split()) == set(app.module_names)
    assert len(libraries.split()) == 120 and any(".plugins.p_" in name for name in libraries.split()), untraced.stdout
    traced = subprocess.run(
        [sys.executable, "-c", "import src.main"], cwd=app.dest_dir, capture_output=True, text=True, timeout=120,
        env=clean_env({"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": app.root}),
    )
    assert traced.returncode == 0, traced.stderr[-4000:]
    recorded = {line.split(": ", 1)[1] for line in traced.stdout.splitlines() if line.startswith("LOADED_MODULE: ")}
    assert recorded == set(app.module_names), traced.stderr[-4000:]


def test_the_real_app_benchmark_skips_an_app_that_is_not_installed(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_real_app", "--python", str(tmp_path / "bin" / "python"),
         "--root", str(tmp_path / "app"), "--url", "http://127.0.0.1:9/", "--", "app-server"],
        cwd=str(REPO), env=clean_env(), capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0 and proc.stderr.startswith("SKIP: ") and "not found" in proc.stderr, proc.stderr


@pytest.mark.once
def test_importtime_benchmark_prints_both_columns_and_where_they_differ_by_design() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_importtime", "--rounds", "1", "--modules", "30"],
        cwd=str(REPO), env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "Generated app (30 modules)" in proc.stdout and "Airflow pattern" in proc.stdout, proc.stdout
    rows = {line.split()[0]: line for line in proc.stdout.splitlines() if line.startswith("src")}
    assert "by design: a load -X importtime does not list" in rows["src.plugins.dynamic"], proc.stdout
    assert "by design: imported in another thread" in rows["src.threaded"], proc.stdout
    assert "ms" in rows["src.main"] and "-" not in rows["src.main"].split()[1:5], proc.stdout
