from __future__ import annotations

import pytest

import os
from pathlib import Path

from otel_import_tracer.naming import SourceRoot, module_name_for, path_for

# Nothing here depends on the collector: the per-collector reruns skip it (scripts/test.sh).
pytestmark = pytest.mark.collector_independent


def test_module_names_follow_the_path_under_the_roots_parent() -> None:
    assert module_name_for("/app/src/models/domain.py", "/app/src") == "src.models.domain"
    assert module_name_for("/app/src/models/__init__.py", "/app/src") == "src.models"
    assert module_name_for("/app/src/__init__.py", "/app/src") == "src"
    assert module_name_for("/app/src/main.py", "/app/src") == "src.main"


def test_path_for_gives_both_candidates() -> None:
    assert path_for("src.models", "/app/src") == ("/app/src/models.py", "/app/src/models/__init__.py")


def test_classify_accepts_only_python_files_under_the_root(tmp_path: Path) -> None:
    root = SourceRoot(str(tmp_path / "src"))
    inside = str(tmp_path / "src" / "a" / "b.py")
    assert root.classify(inside) == (inside, "src.a.b")
    assert root.classify(str(tmp_path / "srcx" / "b.py")) is None  # a sibling sharing the prefix
    assert root.classify(str(tmp_path / "src" / "data.json")) is None
    assert root.classify("<frozen importlib._bootstrap>") is None
    assert root.classify("<string>") is None
    assert root.classify(None) is None
    assert root.classify(str(tmp_path / "src" / ".." / "src" / "c.py")) == (str(tmp_path / "src" / "c.py"), "src.c")


def test_files_seen_through_the_real_path_of_a_symlinked_root_are_reported_under_the_root(tmp_path: Path) -> None:
    real = tmp_path / "code" / "src"
    real.mkdir(parents=True)
    link = tmp_path / "app" / "src"
    link.parent.mkdir()
    os.symlink(real, link)
    root = SourceRoot(str(link))
    assert root.classify(str(real / "m.py")) == (str(link / "m.py"), "src.m")
    assert root.classify(str(link / "m.py")) == (str(link / "m.py"), "src.m")


def test_the_name_the_import_system_gave_is_kept_not_a_copy(tmp_path: Path) -> None:
    # 20,000 modules, 64 bytes each: the cached name is the import system's own string when equal.
    root = SourceRoot(str(tmp_path / "src"))
    given = ".".join(["src", "a", "b"])  # built at run time, like the import system's names
    path, name = root.classify(str(tmp_path / "src" / "a" / "b.py"), given)
    assert name is given
    other = ".".join(["src", "elsewhere"])
    assert root.classify(str(tmp_path / "src" / "c.py"), other)[1] == "src.c"  # a wrong hint is ignored


def test_the_imported_name_is_kept_when_it_names_the_file_else_the_path_names_it(tmp_path: Path) -> None:
    from otel_import_tracer.naming import names_file

    assert names_file("src.db", "/proj/src/db.py") and names_file("src", "/proj/src/__init__.py")
    assert names_file("db", "/proj/src/db.py")  # imported with /proj/src on the path
    assert not names_file("__main__", "/proj/src/db.py") and not names_file("plugin_db", "/proj/src/db.py")
    assert not names_file("proj.src.db.extra", "/proj/src/db.py") and not names_file("", "/proj/src/db.py")
    root = SourceRoot(str(tmp_path / "proj"))
    assert root.classify(str(tmp_path / "proj" / "src" / "db.py"), "src.db")[1] == "src.db"
    assert root.classify(str(tmp_path / "proj" / "run.py"), "__main__")[1] == "proj.run"


def test_a_root_found_in_the_working_directory_leaves_out_what_is_not_the_applications(tmp_path: Path) -> None:
    from otel_import_tracer.naming import find_app_root

    assert find_app_root(str(tmp_path)) is None  # nothing there
    (tmp_path / "venv").mkdir()
    (tmp_path / "venv" / "pyvenv.cfg").write_text("")
    (tmp_path / "venv" / "x.py").write_text("")
    assert find_app_root(str(tmp_path)) is None  # a virtualenv is not the application's code
    (tmp_path / "src" / "app").mkdir(parents=True)
    (tmp_path / "src" / "app" / "__init__.py").write_text("")
    assert find_app_root(str(tmp_path)) == (str(tmp_path), ("venv",))
    assert find_app_root("/") is None
    root = SourceRoot(str(tmp_path), found=True, excludes=("venv",))
    assert root.classify(str(tmp_path / "src" / "app" / "__init__.py")) == (str(tmp_path / "src" / "app" / "__init__.py"), "src.app")
    assert root.classify(str(tmp_path / "main.py")) == (str(tmp_path / "main.py"), "main")
    for outside in ("venv/x.py", ".venv/lib/y.py", "build/lib/z.py", "lib/site-packages/w.py", "node_modules/a/b.py"):
        assert root.classify(str(tmp_path / outside)) is None, outside
