"""The documentation a person reads (issue 27): a README of about 250 lines that says what the
tool is, the two commands a newcomer needs, how to install, use, deploy and configure it, and
where to read more; the rest in docs/, a MkDocs site whose every page is in the navigation.

The site's strict build (broken links and anchors) is `bash scripts/docs.sh`, a step of .ci/run;
these checks need no MkDocs and run in the default suite.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import List

import pytest

from otel_import_tracer import config, semconv

pytestmark = pytest.mark.collector_independent

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
README_MAX_LINES = 250


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def _section(markdown: str, heading: str) -> str:
    match = re.search(rf"^##\s+{re.escape(heading)}\s*$(.*?)(?=^##\s|\Z)", markdown, re.M | re.S)
    assert match, f"README.md: no section ## {heading}"
    return match.group(1)


def _code_blocks(markdown: str, language: str = "sh") -> List[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", markdown, re.M | re.S)


def test_the_readme_is_short_and_has_the_sections_a_newcomer_needs() -> None:
    text = _readme()
    lines = text.count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move details to docs/ (at most {README_MAX_LINES})"
    for heading in ("Two commands", "Install", "Use it", "Deploy it", "Configuration", "Read more"):
        _section(text, heading)


def test_the_readme_holds_no_measured_figures_and_no_developer_paths() -> None:
    text = _readme()
    # Benchmark ratios (1.045x), fuzz example counts and write sizes live in docs/measurements.md
    # and docs/development.md.
    assert not re.findall(r"\b\d+\.\d+x\b", text), "benchmark ratios belong in docs/measurements.md"
    assert "examples a test" not in text and "atomic size" not in text
    assert not re.findall(r"/(?:work|root|Users)/\S+|/home/(?!you/)\S+", text), "a developer's path in the README"


def test_the_two_commands_are_the_demo_and_the_test_command_ci_runs() -> None:
    blocks = _code_blocks(_section(_readme(), "Two commands"))
    assert len(blocks) == 2, blocks
    demo, tests = (block.strip() for block in blocks)
    # From nothing but a clone: a venv, the package with the demo's extras, the demo itself.
    assert demo.startswith("python3 -m venv .venv && ") and 'pip install -e ".[otlp,demo]"' in demo, demo
    assert demo.endswith("otel-import-tracer demo"), demo
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(rf"^{re.escape(tests)}$", ci, re.M), f".ci/run does not run the README's test command {tests!r}"
    assert (REPO / tests.split()[-1]).is_file(), tests


def test_the_readme_says_how_to_install_without_the_package_index() -> None:
    install = _section(_readme(), "Install")
    assert "not on the Python Package Index" in install
    assert "python -m build" in install and ".whl[otlp]" in install, install
    assert not re.search(r'pip install "otel-import-tracer\[', _readme()), "that only works once the package is on the index"
    # The wheel named is the one `python -m build` makes of this version.
    from otel_import_tracer.version import __version__

    wheel = f"otel_import_tracer-{__version__}-py3-none-any.whl"
    for page in (README, DOCS / "install.md"):
        named = set(re.findall(r"otel_import_tracer-[^\s\"\[]*\.whl", page.read_text(encoding="utf-8")))
        assert named == {wheel}, f"{page.name}: {named} (the build makes {wheel})"


def test_every_relative_link_in_the_readme_and_docs_names_a_file_that_exists() -> None:
    missing = []
    pages = [README, *sorted(DOCS.glob("*.md")), REPO / "deploy" / "README.md"]
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            path = target.split("#", 1)[0]
            if not path or re.match(r"[a-z]+:", path):
                continue
            if not (page.parent / path).exists():
                missing.append(f"{page.relative_to(REPO)} -> {target}")
    assert not missing, missing


def test_every_docs_page_is_in_the_mkdocs_navigation() -> None:
    import yaml  # the test extra has PyYAML

    site = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    assert site.get("strict") is True and site["theme"]["name"]

    def pages(nav: object) -> List[str]:
        if isinstance(nav, str):
            return [nav]
        if isinstance(nav, dict):
            return [page for value in nav.values() for page in pages(value)]
        return [page for item in nav for page in pages(item)]  # type: ignore[attr-defined]

    listed = pages(site["nav"])
    assert sorted(listed) == sorted(path.name for path in DOCS.glob("*.md")), listed
    extras = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^docs = \[.*"mkdocs', extras, re.M), "pyproject.toml: no docs extra with mkdocs"
    assert re.search(r"^bash scripts/docs\.sh", (REPO / ".ci" / "run").read_text(encoding="utf-8"), re.M)


def test_every_variable_and_telemetry_name_is_documented() -> None:
    variables = [value for name, value in vars(config).items()
                 if name.isupper() and isinstance(value, str) and re.fullmatch(r"(ENABLE_)?IMPORT_TRACING(_[A-Z]+)*", value)]
    assert len(variables) >= 8, variables
    configuration = (DOCS / "configuration.md").read_text(encoding="utf-8")
    readme_table = _section(_readme(), "Configuration")
    undocumented = [v for v in variables if f"`{v}`" not in configuration or f"`{v}`" not in readme_table]
    assert not undocumented, f"not in docs/configuration.md and the README's table: {undocumented}"
    names = [value for name, value in vars(semconv).items()
             if name.startswith(("SPAN_", "EVENT_", "ATTR_")) and isinstance(value, str)]
    contract = (DOCS / "output.md").read_text(encoding="utf-8")
    missing = [name for name in names if name.strip() not in contract]
    assert not missing, f"not in the telemetry contract (docs/output.md): {missing}"


def test_measured_figures_have_their_own_page() -> None:
    measurements = (DOCS / "measurements.md").read_text(encoding="utf-8")
    for figure in ("python -m benchmarks.run_all", "bench_big_report", "bench_audit_merge", "the `.start` entry point"):
        assert figure in measurements, figure
