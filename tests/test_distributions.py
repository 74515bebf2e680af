"""Stop is cheap in short-lived processes: the report's distributions and versions are looked up
once per environment, not by every process (issue 28: ~0.5 s of CPU per process on 3.12)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

from tests.conftest import TEST_COLLECTOR
from tests.support.servers import clean_env

# A short-lived traced process (a job's step): its code imports two installed libraries and a
# package of the test's own site directory, stops, and says whether it read any distribution
# metadata (importlib.metadata is not imported otherwise).
SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
import src
import otel_import_tracer
otel_import_tracer.stop_tracing()
print("metadata read:", "importlib.metadata" in sys.modules)
"""


def _site(tmp_path: Path, version: str) -> Path:
    """A site directory holding ``fakepkg`` installed as the distribution ``fake-package``."""
    site = tmp_path / "site"
    for old in site.glob("*.dist-info"):
        for child in old.iterdir():
            child.unlink()
        old.rmdir()
    (site / "fakepkg").mkdir(parents=True, exist_ok=True)
    (site / "fakepkg" / "__init__.py").write_text("")
    info = site / f"fake_package-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fake-package\nVersion: {version}\n")
    (info / "RECORD").write_text(f"fakepkg/__init__.py,,\nfake_package-{version}.dist-info/METADATA,,\n")
    return site


def _run(tmp_path: Path, site: Path) -> "tuple[str, Dict[str, List]]":
    root = tmp_path / "src"
    root.mkdir(exist_ok=True)
    (root / "__init__.py").write_text("import yaml\nimport h11\nimport fakepkg\n")
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=120,
        env=clean_env({"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(root),
                       "IMPORT_TRACING_COLLECTOR": TEST_COLLECTOR, "IMPORT_TRACING_REPORT": str(report),
                       "OTEL_TRACES_EXPORTER": "none", "XDG_CACHE_HOME": str(tmp_path / "cache"),
                       "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}),
    )
    assert result.returncode == 0, result.stderr
    dependencies = json.loads(report.read_text())["dependencies"]
    return result.stdout, {d["name"]: [d["distribution"], d["version"]] for d in dependencies}


def test_the_second_process_of_an_environment_reads_no_distribution_metadata(tmp_path: Path) -> None:
    from importlib import metadata

    expected = {"yaml": ["PyYAML", metadata.version("PyYAML")], "h11": ["h11", metadata.version("h11")],
                "fakepkg": ["fake-package", "1.0"]}
    site = _site(tmp_path, "1.0")
    first, found = _run(tmp_path, site)
    assert found == expected and "metadata read: True" in first, first
    second, found = _run(tmp_path, site)
    assert found == expected
    assert "metadata read: False" in second, second  # the answers came from the environment's cache file
    # A distribution installed, removed or upgraded changes its directory: looked up again.
    site = _site(tmp_path, "2.0")
    third, found = _run(tmp_path, site)
    assert found["fakepkg"] == ["fake-package", "2.0"] and "metadata read: True" in third, third
