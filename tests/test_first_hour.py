"""Issue 27's leftovers: the same names whichever collector, advice for a missing exporter that
works while the package is not on the index, and one summary for a server's workers."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, List

import pytest

from tests.support.servers import child_output, clean_env, shutdown_lines

_COLLECTORS = ["audit", "importhook", "settrace"] + (["monitoring"] if hasattr(sys, "monitoring") else [])


def _write(base: Path, files: Dict[str, str]) -> None:
    for relative, source in files.items():
        path = base / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))


def _run(cwd: Path, argv: List[str], **env: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([sys.executable, *argv], cwd=str(cwd), capture_output=True, text=True, timeout=60,
                          env=clean_env({"ENABLE_IMPORT_TRACING": "true", **env}))


@pytest.mark.collector_independent  # runs each collector itself (audit is in no suite run)
@pytest.mark.parametrize("collector", _COLLECTORS)
def test_a_module_executed_by_hand_under_its_import_name_is_named_so_by_every_collector(tmp_path: Path, collector: str) -> None:
    # A plugin loader of the app's own: the module object made and registered under the name the
    # code imports it by, its file run with a bare exec (nothing patched sees that but the
    # collectors' own watchers). The root is the project, above the sys.path entry.
    project = tmp_path / "app"
    _write(project, {
        "src/__init__.py": "",
        "src/plugins/__init__.py": "",
        "src/plugins/x.py": "X = 1\n",
        "main.py": """\
            import os, sys, types
            path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "src", "plugins", "x.py")
            module = types.ModuleType("src.plugins.x")
            module.__file__ = path
            sys.modules["src.plugins.x"] = module
            exec(compile(open(path).read(), path, "exec"), module.__dict__)
            assert module.X == 1
            """,
    })
    result = _run(project, ["main.py"], IMPORT_TRACING_ROOT=str(project), IMPORT_TRACING_COLLECTOR=collector)
    assert result.returncode == 0, child_output(result)
    _, modules, _ = shutdown_lines(result.stdout)
    assert modules == ["app.main", "src.plugins.x"], child_output(result)


_SHADOW = "raise ModuleNotFoundError(\"No module named '{0}'\", name='{0}')\n"


@pytest.mark.collector_independent
@pytest.mark.python_independent
@pytest.mark.parametrize("protocol,package", [("grpc", "grpc"), ("http/protobuf", "http")])
def test_a_missing_exporter_s_advice_installs_it_from_the_index(tmp_path: Path, protocol: str, package: str) -> None:
    # The exporter's package absent as pip would leave it: a regular package earlier on the path
    # that fails to import, as a missing one does (opentelemetry.exporter.otlp.proto is a
    # namespace package, so the first regular ``grpc``/``http`` portion wins).
    module = f"opentelemetry.exporter.otlp.proto.{package}"
    _write(tmp_path / "shadow", {module.replace(".", "/") + "/__init__.py": _SHADOW.format(module)})
    _write(tmp_path, {"src/__init__.py": "", "src/main.py": ""})
    import socket

    with socket.socket() as collector:  # accepts connections: the endpoint check passes
        collector.bind(("127.0.0.1", 0))
        collector.listen()
        result = _run(tmp_path, ["-c", "import src.main"], PYTHONPATH=str(tmp_path / "shadow"),
                      IMPORT_TRACING_ROOT=str(tmp_path / "src"), OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
                      OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.getsockname()[1]}")
    assert result.returncode == 0, child_output(result)
    (said,) = [line for line in result.stderr.splitlines() if "[exporter-missing]" in line] or [child_output(result)]
    assert "pip install " in said, child_output(result)
    advised = said.split("pip install ", 1)[1].split()[0].strip("'\"")
    # What it names is on the index (never this package, which is not yet) and is what provides
    # the missing module: a requirement of the package's extra, shipping the module's files.
    from importlib import metadata

    assert not advised.startswith("otel-import-tracer"), said
    requirements = [r.split(";")[0] for r in metadata.requires("otel-import-tracer") or []
                    if r.split(";")[-1].replace('"', "'").strip().endswith(f"extra == '{package}'")]
    assert [r.split(">")[0].split("=")[0].strip() for r in requirements] == [advised], (said, requirements)
    files = [str(f) for f in metadata.distribution(advised).files or []]
    assert module.replace(".", "/") + "/__init__.py" in files, said


@pytest.mark.slow
@pytest.mark.collector_independent
def test_the_workers_of_one_server_print_one_summary_that_says_whose(tmp_path: Path) -> None:
    # What a person stopping `uvicorn --workers 2` wants: one summary (the workers load the same
    # code; two near-identical blocks at every stop are noise), saying which worker's it is and
    # where each one's is (the reports, one per worker, are all still written).
    from tests.support.plain_app import run_service

    run = run_service([sys.executable, "-m", "uvicorn", "src.main:app", "--port", "{port}", "--workers", "2"], tmp_path,
                      workers=2, env={"IMPORT_TRACING_SUMMARY": "true"})
    assert len(run.reports) == 2, run.output
    summaries = [line for line in run.output.splitlines() if line.startswith("otel-import-tracer: summary: ")]
    assert len(summaries) == 1, run.output
    lines = run.output.splitlines()
    start = lines.index(summaries[0])
    block = [summaries[0]] + [line for line in lines[start + 1:start + 12] if line.startswith("otel-import-tracer:   ")]
    spoke = [pid for pid in run.reports if any(f"pid {pid}" in line for line in block)]
    assert len(spoke) == 1, run.output  # the summary names its worker
    assert any("their reports" in line for line in block), run.output  # and where the others' are
    # A single process of its own (no server above it) prints its summary as before, no pid note.
    _write(tmp_path / "one", {"src/__init__.py": ""})
    alone = _run(tmp_path / "one", ["-c", "import src"], IMPORT_TRACING_ROOT=str(tmp_path / "one" / "src"))
    assert alone.stderr.count("summary: ") == 1 and "speaks for" not in alone.stderr, child_output(alone)
