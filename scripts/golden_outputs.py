"""Golden outputs of every reading command, to check that a refactoring changed no output.

    python scripts/golden_outputs.py record DIR    # inputs (real demo runs) + the outputs of today's code
    python scripts/golden_outputs.py compare DIR   # the same commands again on DIR's inputs: identical?

``record`` runs the demo twice under the real CLI (``demo --exercise``, exporting to the tests'
OTLP receiver) and keeps what each run left: its report, its shutdown lines (a container log),
its saved trace (OTLP JSON, as the Collector's file exporter writes it), its terminal summary.
Then it adds hand-made inputs (a version 1 report, bad reports and logs) and runs every reading
command on them: ``audit`` (text, json) on a report, a log, a trace, several inputs and standard
input, ``diff`` (text, json, markdown) on reports, traces and directories, ``report --html``, and
the error cases. Outputs are stored with DIR masked. ``compare`` reruns the commands on the stored
inputs (byte-identical outputs expected), and runs the demo once more to compare the terminal
summary and the written report with times, pids and ids masked (their shape, not their values).

Run from the repository root with a venv that has the package and its test extras.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "otel_import_tracer"]
DEMO_ROOT = REPO / "deploy" / "demo" / "src"

# name -> (argv after the CLI, stdin file or None); {I} is the inputs folder, {O} a scratch folder.
COMMANDS: Dict[str, Tuple[List[str], Any]] = {
    "audit-report-text": (["audit", "{I}/a.json", "--root", str(DEMO_ROOT)], None),
    "audit-report-json": (["audit", "{I}/a.json", "--root", str(DEMO_ROOT), "--format", "json"], None),
    "audit-report-recorded-root": (["audit", "{I}/a.json"], None),
    "audit-log-text": (["audit", "{I}/a.log", "--root", str(DEMO_ROOT)], None),
    "audit-log-json": (["audit", "{I}/a.log", "--root", str(DEMO_ROOT), "--format", "json"], None),
    "audit-log-stdin": (["audit", "--root", str(DEMO_ROOT)], "a.log"),
    "audit-trace-text": (["audit", "{I}/a.jsonl", "--root", str(DEMO_ROOT)], None),
    "audit-trace-json": (["audit", "{I}/a.jsonl", "--root", str(DEMO_ROOT), "--format", "json"], None),
    "audit-many-text": (["audit", "{I}/a.json", "{I}/b.log", "{I}/b.jsonl", "{I}/v1.json", "--root", str(DEMO_ROOT)], None),
    "audit-many-json": (["audit", "{I}/a.json", "{I}/b.json", "{I}/a.log", "--root", str(DEMO_ROOT), "--format", "json",
                         "--exclude", "legacy/*", "--fail-if-unused"], None),
    "audit-path-map": (["audit", "{I}/a.json", "--root", "{I}/copy/src", "--path-map", f"{DEMO_ROOT}={{I}}/copy/src"], None),
    "audit-bad-report": (["audit", "{I}/bad-type.json", "--root", str(DEMO_ROOT)], None),
    "audit-truncated": (["audit", "{I}/truncated.json", "--root", str(DEMO_ROOT)], None),
    "audit-bad-log": (["audit", "{I}/cut.log", "--root", str(DEMO_ROOT)], None),
    "audit-bad-log-skip": (["audit", "{I}/cut.log", "{I}/a.json", "--root", str(DEMO_ROOT), "--skip-bad"], None),
    "audit-not-ours": (["audit", "{I}/other.log", "--root", str(DEMO_ROOT)], None),
    "audit-bad-trace": (["audit", "{I}/bad.jsonl", "--root", str(DEMO_ROOT)], None),
    "audit-newer": (["audit", "{I}/newer.json", "--root", str(DEMO_ROOT)], None),
    "diff-reports-text": (["diff", "{I}/a.json", "{I}/b.json"], None),
    "diff-reports-json": (["diff", "{I}/a.json", "{I}/b.json", "--format", "json"], None),
    "diff-reports-markdown": (["diff", "{I}/a.json", "{I}/b.json", "--format", "markdown", "--top", "3"], None),
    "diff-changed-text": (["diff", "{I}/a.json", "{I}/changed.json", "--top", "5"], None),
    "diff-changed-json": (["diff", "{I}/a.json", "{I}/changed.json", "--format", "json", "--fail-if-new-modules"], None),
    "diff-changed-markdown": (["diff", "{I}/a.json", "{I}/changed.json", "--format", "markdown", "--fail-if-slower", "5%"], None),
    "audit-changed-json": (["audit", "{I}/changed.json", "--format", "json"], None),
    "report-html-changed": (["report", "{I}/changed.json", "--html", "{O}/c.html"], None),
    "diff-traces-text": (["diff", "{I}/a.jsonl", "{I}/b.jsonl"], None),
    "diff-trace-report-json": (["diff", "{I}/a.jsonl", "{I}/a.json", "--format", "json"], None),
    "diff-dirs-text": (["diff", "{I}/side-a", "{I}/side-b", "--fail-if-slower", "0%", "--fail-if-new-modules", "--budget-ms", "1"], None),
    "diff-dirs-markdown": (["diff", "{I}/side-a", "{I}/side-b", "--format", "markdown", "--budget-ms", "100000"], None),
    "diff-v1-json": (["diff", "{I}/v1.json", "{I}/a.json", "--format", "json"], None),
    "diff-log": (["diff", "{I}/a.log", "{I}/a.json"], None),
    "report-html": (["report", "{I}/a.json", "--html", "{O}/a.html"], None),
    "report-html-root": (["report", "{I}/b.json", "--html", "{O}/b.html", "--root", str(DEMO_ROOT), "--exclude", "legacy/*"], None),
    "report-html-elsewhere": (["report", "{I}/v1.json", "--html", "{O}/v1.html"], None),
}


def main(argv: List[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("record", "compare"):
        sys.stderr.write(__doc__)
        return 2
    folder = Path(argv[1]).resolve()
    if argv[0] == "record":
        record(folder)
        return 0
    return compare(folder)


def record(folder: Path) -> None:
    inputs = folder / "inputs"
    if not inputs.is_dir():
        make_inputs(inputs)
    (inputs / "a.summary-shape").write_text(shape_of_summary((inputs / "a.summary").read_text(encoding="utf-8")), encoding="utf-8")
    (inputs / "a.report-shape").write_text(shape_of_report(inputs / "a.json"), encoding="utf-8")
    outputs = folder / "outputs"
    shutil.rmtree(outputs, ignore_errors=True)
    outputs.mkdir(parents=True)
    for name, text in run_commands(folder).items():
        (outputs / name).write_text(text, encoding="utf-8")
    print(f"recorded {len(COMMANDS)} commands in {outputs}")


def compare(folder: Path) -> int:
    outputs = folder / "outputs"
    differences = 0
    for name, text in run_commands(folder).items():
        expected = (outputs / name).read_text(encoding="utf-8")
        if text != expected:
            differences += 1
            sys.stdout.writelines(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), f"recorded/{name}", f"now/{name}"))
    # The writing side and the terminal summary: a fresh run, compared by shape.
    fresh = folder / "fresh"
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir()
    summary, report = demo_run(fresh, "a")
    for name, now in (("summary", shape_of_summary(summary)), ("report", shape_of_report(fresh / "a.json"))):
        before = (folder / "inputs" / f"a.{name}-shape").read_text(encoding="utf-8")
        if now != before:
            differences += 1
            sys.stdout.writelines(difflib.unified_diff(before.splitlines(True), now.splitlines(True), f"recorded/{name}", f"now/{name}"))
    print(f"{len(COMMANDS) + 2} outputs compared: {'identical' if not differences else f'{differences} differ'}")
    return 1 if differences else 0


def run_commands(folder: Path) -> Dict[str, str]:
    inputs, scratch = folder / "inputs", folder / "scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "IMPORT_TRACING", "ENABLE_IMPORT"))}
    env["COLUMNS"] = "100"
    results = {}
    for name, (args, stdin) in COMMANDS.items():
        argv = [arg.replace("{I}", str(inputs)).replace("{O}", str(scratch)) for arg in args]
        stdin_bytes = (inputs / stdin).read_bytes() if stdin else None
        done = subprocess.run(CLI + argv, input=stdin_bytes, capture_output=True, cwd=str(REPO), env=env, timeout=300,
                              stdin=None if stdin else subprocess.DEVNULL)
        text = f"status: {done.returncode}\n-- stdout\n{done.stdout.decode('utf-8', 'replace')}-- stderr\n{done.stderr.decode('utf-8', 'replace')}"
        for written in sorted(scratch.glob("*.html")):
            text += f"-- {written.name}\n{written.read_text(encoding='utf-8')}"
            written.unlink()
        results[name] = mask(text, folder)
    return results


def mask(text: str, folder: Path) -> str:
    text = text.replace(str(folder), "<DIR>").replace(str(REPO), "<REPO>")
    from otel_import_tracer.version import __version__

    return text.replace(__version__, "<VERSION>")


# -- inputs -------------------------------------------------------------------------------


def make_inputs(inputs: Path) -> None:
    inputs.mkdir(parents=True)
    for run in ("a", "b"):
        summary, exports = demo_run(inputs, run)
        (inputs / f"{run}.summary").write_text(summary, encoding="utf-8")
        write_jsonl(inputs / f"{run}.jsonl", exports)
    a = json.loads((inputs / "a.json").read_text(encoding="utf-8"))
    from otel_import_tracer.report import dumps

    v1 = {key: value for key, value in a.items() if key != "dependencies"}
    v1["schema_version"] = 1
    v1["root"] = "/srv/elsewhere/src"
    v1["modules"] = [{**entry, "file": entry["file"].replace(str(DEMO_ROOT), "/srv/elsewhere/src")} for entry in a["modules"]]
    (inputs / "v1.json").write_text(dumps(v1), encoding="utf-8")
    changed = json.loads(json.dumps(a))  # a head that differs: a module gone, one new, slower, a new failure
    dropped = changed["modules"].pop(5)
    changed["modules"].append({**dropped, "name": dropped["name"] + "_new", "file": dropped["file"][:-3] + "_new.py"})
    for index, entry in enumerate(changed["modules"]):
        if entry["duration_ms"] is not None:
            entry["duration_ms"] = round(entry["duration_ms"] * (1 + index % 7 / 3), 3)
    changed["startup_complete_ms"] = (changed["startup_complete_ms"] or 0) * 1.5
    if changed["failed_imports"]:
        changed["failed_imports"].append({**changed["failed_imports"][0], "name": "another_missing", "count": 2})
    for entry in changed.get("dependencies", [])[:3]:
        entry["duration_ms"] = (entry["duration_ms"] or 0) * 4
    (inputs / "changed.json").write_text(dumps(changed), encoding="utf-8")
    bad = json.loads(json.dumps(a))
    bad["modules"][3]["duration_ms"] = "slow"
    (inputs / "bad-type.json").write_text(dumps(bad), encoding="utf-8")
    (inputs / "newer.json").write_text(dumps({**a, "schema_version": 99}), encoding="utf-8")
    text = (inputs / "a.json").read_text(encoding="utf-8")
    (inputs / "truncated.json").write_text(text[: len(text) // 2], encoding="utf-8")
    log = (inputs / "a.log").read_text(encoding="utf-8").splitlines(True)
    cut = [line for line in log if "LOADED_SRC_FILE" not in line or "main.py" not in line]
    (inputs / "cut.log").write_text("".join(cut), encoding="utf-8")
    (inputs / "other.log").write_text("INFO started\nGET /health 200\n", encoding="utf-8")
    (inputs / "bad.jsonl").write_text((inputs / "a.jsonl").read_text(encoding="utf-8").splitlines(True)[0] + '{"resourceSpans": [1]}\n')
    for side, files in (("side-a", ("a.json", "a.jsonl")), ("side-b", ("b.json", "changed.json"))):
        (inputs / side).mkdir()
        for name in files:
            shutil.copy(inputs / name, inputs / side / name)
    shutil.copytree(DEMO_ROOT, inputs / "copy" / "src", ignore=shutil.ignore_patterns("__pycache__"))


def demo_run(folder: Path, run: str) -> Tuple[str, Any]:
    """The demo once under the real CLI: its report, its shutdown lines as ``run.log``; its summary and exports."""
    sys.path.insert(0, str(REPO))
    from tests.support.otlp_receiver import OtlpReceiver

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with OtlpReceiver() as receiver:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "IMPORT_TRACING", "ENABLE_IMPORT"))}
        env.update(receiver.env("http"), IMPORT_TRACING_REPORT=str(folder / f"{run}.json"), OTEL_SERVICE_NAME="golden")
        done = subprocess.run(CLI + ["demo", "--exercise", "--port", str(port)], capture_output=True, cwd=str(REPO), env=env, timeout=300)
        if done.returncode != 0:
            raise SystemExit(f"the demo failed ({done.returncode}):\n{done.stderr.decode()}")
        exports = receiver.exports()
    (folder / f"{run}.log").write_bytes(done.stdout)
    summary = "".join(line + "\n" for line in done.stderr.decode().splitlines() if ": summary: " in line or line.startswith("otel-import-tracer:   "))
    return summary, exports


def write_jsonl(path: Path, requests: List[Any]) -> None:
    from tests.support.otlp_receiver import otlp_json

    path.write_text("".join(json.dumps(otlp_json(request)) + "\n" for request in requests), encoding="utf-8")


_TIME = re.compile(r"\+?\d+(\.\d+)? (ms|s)\b")
_TIMED_LIST = re.compile(r"^(?P<head>.*?(slowest|slowest dependencies): )(?P<items>.*)$")


def shape_of_summary(summary: str) -> str:
    """The summary with times masked (their unit too), and the order of its timed lists (which
    depends on timing) dropped: how many items, and their names sorted."""
    lines = []
    for line in summary.replace(str(REPO), "<REPO>").splitlines():
        line = re.sub(r"report: .*", "report: <PATH>", _TIME.sub("T", line))
        timed = _TIMED_LIST.match(line)
        if timed:
            line = f"{timed.group('head')}{len(timed.group('items').split(', '))} items"
        lines.append(line)
    return "".join(line + "\n" for line in lines)


_VARYING = {"pid", "command", "started_at", "started_unix_ns", "startup_complete_ms", "written_at", "trace_id", "offset_ms", "duration_ms", "host", "tool_version", "python"}


def shape_of_report(path: Path) -> str:
    """The report's fields and entries, times, pids and ids masked, entries sorted (threads race)."""
    document = json.loads(path.read_text(encoding="utf-8"))

    def masked(entry: Dict[str, Any]) -> Dict[str, Any]:
        return {key: ("<masked>" if key in _VARYING else value) for key, value in entry.items()}

    def entries(value: Any) -> bool:
        return isinstance(value, list) and all(isinstance(entry, dict) for entry in value)

    lines = [f"{key}: {json.dumps(masked({key: value})[key])}" for key, value in document.items() if not entries(value)]
    for key, value in document.items():
        if entries(value):
            lines.append(f"{key}:")
            lines += sorted("  " + json.dumps(masked(entry), sort_keys=True) for entry in value)
    return "\n".join(lines).replace(str(REPO), "<REPO>") + "\n"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
