"""Real apps: a real API server's startup untraced and traced, process start to first answer.

The generated app (``appgen.py``) is what CI measures; this checks that its ratio holds on a real
service of ~1,000 modules (issue 25). Given the server's command line, a URL it answers once
ready, its package's directory (``IMPORT_TRACING_ROOT``) and a number of rounds, it starts the
server untraced and traced (``ENABLE_IMPORT_TRACING=true``, no exporter), alternating, and
measures for each start:

- the wall time from spawning the process to the first successful HTTP answer of the URL;
- the server process's CPU time at that moment, and its descendants' (alive or already reaped);

then stops the server (SIGTERM to its process group, SIGKILL after a timeout). With
``--instructions MODULE`` it also counts the instructions of ``python -c "import MODULE"``
untraced and traced under valgrind (deterministic, where the times move with the machine's load).

Run by hand, not in CI; the apps are installed into venvs of their own (benchmarks/README.md)::

    python -m benchmarks.bench_real_app --python .realapps/prefect/bin/python \\
        --root .realapps/prefect/lib/python3.11/site-packages/prefect \\
        --url http://127.0.0.1:4200/api/health --rounds 8 --instructions prefect.server.api.server \\
        -- prefect server start --host 127.0.0.1 --port 4200
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import Dict, List, Optional, Sequence, Tuple

from benchmarks import runner

VARIANTS = ("untraced", "traced")
_CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass
class Runs:
    name: str
    wall_s: List[float] = dataclasses.field(default_factory=list)
    cpu_s: List[float] = dataclasses.field(default_factory=list)
    children_cpu_s: List[float] = dataclasses.field(default_factory=list)
    children: List[int] = dataclasses.field(default_factory=list)


def env_for(variant: str, root: str, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment without any tracer or OpenTelemetry setting, then ours for ``traced``."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("OTEL_", "IMPORT_TRACING_", "ENABLE_IMPORT_TRACING", "PYTHONPROFILEIMPORTTIME"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # else every start compiles every module: a server has its .pyc files
    env.update(extra or {})
    if variant == "traced":
        env["ENABLE_IMPORT_TRACING"] = "true"
        env["IMPORT_TRACING_ROOT"] = root
    return env


def _proc_cpu(pid: int) -> Tuple[float, float, int]:
    """(own utime+stime, reaped children's cutime+cstime, parent pid) of a live process, in seconds."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3): ppid is field 4, utime..cstime fields 14-17.
    return ((int(fields[11]) + int(fields[12])) / _CLK_TCK, (int(fields[13]) + int(fields[14])) / _CLK_TCK,
            int(fields[1]))


def _descendants(pid: int) -> List[int]:
    parents: Dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = _proc_cpu(int(entry))[2]
            except (OSError, IndexError, ValueError):
                pass
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def cpu_at(pid: int) -> Tuple[float, float, int]:
    """The server's own CPU, its descendants' (alive, and reaped ones as the kernel counts them), how many alive."""
    own, reaped, _ = _proc_cpu(pid)
    children = 0.0
    alive = _descendants(pid)
    for child in alive:
        try:
            child_own, _child_reaped, _ = _proc_cpu(child)
        except (OSError, IndexError, ValueError):
            continue
        children += child_own
    return own, reaped + children, len(alive)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def start_once(command: Sequence[str], env: Dict[str, str], url: str, cwd: str, timeout: float,
               poll_s: float = 0.01) -> Tuple[float, float, float, int]:
    """Spawn, poll the URL until it answers 2xx, read the CPU counters, stop the server."""
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        proc = subprocess.Popen(list(command), env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            while True:
                if _ready(url):
                    wall = time.perf_counter() - started
                    own, children, alive = cpu_at(proc.pid)
                    return wall, own, children, alive
                if proc.poll() is not None or time.perf_counter() - started > timeout:
                    output.seek(0)
                    tail = output.read().decode("utf-8", "replace")[-4000:]
                    state = f"exited {proc.returncode}" if proc.returncode is not None else f"not ready after {timeout:.0f} s"
                    raise RuntimeError(f"{' '.join(command)}: {state}:\n{tail}")
                time.sleep(poll_s)
        finally:
            _stop(proc)


def _stop(proc: "subprocess.Popen[bytes]", timeout: float = 30.0) -> None:
    """SIGTERM to the whole process group, SIGKILL to what is left of it after ``timeout``."""
    if not _signal_group(proc.pid, signal.SIGTERM):
        proc.wait()
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _signal_group(proc.pid, 0):
        proc.poll()
        time.sleep(0.05)
    _signal_group(proc.pid, signal.SIGKILL)
    proc.wait()


def _signal_group(pgid: int, sig: int) -> bool:
    """Whether the group still had a process to signal."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def measure(command: Sequence[str], root: str, url: str, rounds: int, cwd: str, timeout: float,
            extra_env: Optional[Dict[str, str]] = None, warmup: bool = True) -> Dict[str, Runs]:
    runs = {name: Runs(name) for name in VARIANTS}
    if warmup:  # compiles the .pyc files, runs first-start migrations, warms the page cache
        for name in VARIANTS:
            runner.log(f"real app: warm-up {name}")
            start_once(command, env_for(name, root, extra_env), url, cwd, timeout)
    for round_index in range(rounds):
        order = VARIANTS if round_index % 2 == 0 else VARIANTS[::-1]  # ABBA: neither always goes first
        for name in order:
            wall, own, children, alive = start_once(command, env_for(name, root, extra_env), url, cwd, timeout)
            run = runs[name]
            run.wall_s.append(wall)
            run.cpu_s.append(own)
            run.children_cpu_s.append(children)
            run.children.append(alive)
        runner.log(f"real app: round {round_index + 1}/{rounds}: "
                   + "  ".join(f"{name}={runs[name].wall_s[-1]:.2f}s cpu={runs[name].cpu_s[-1]:.2f}s"
                               f"+{runs[name].children_cpu_s[-1]:.2f}s" for name in VARIANTS))
    return runs


def count_instructions(python: str, module: str, root: str, cwd: str,
                       extra_env: Optional[Dict[str, str]] = None) -> Dict[str, int]:
    """``python -c "import MODULE"`` under cachegrind, untraced and traced, both at once.

    The process leaves with ``os._exit(0)`` right after the import: the tracer's stop (shutdown
    lines, summary) is not startup, and a server pays it at exit, not before its first answer."""
    import concurrent.futures

    if shutil.which("valgrind") is None:
        raise RuntimeError("--instructions needs valgrind (apt-get install -y valgrind)")

    def count(name: str) -> Tuple[str, int]:
        with tempfile.NamedTemporaryFile(prefix="cachegrind-", suffix=".out") as out:
            argv = ["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out.name}",
                    python, "-c", f"import {module}, os; os._exit(0)"]
            env = env_for(name, root, extra_env)
            env["PYTHONHASHSEED"] = "0"  # else set and dict orders vary the count by a few tenths of a percent
            result = runner.run_child(argv, env, cwd, timeout=3600)
        match = re.search(r"I\s+refs:\s+([\d,]+)", result.output)
        if result.returncode != 0 or match is None:
            raise RuntimeError(f"{name} under valgrind failed ({result.returncode}):\n{result.output[-2000:]}")
        runner.log(f"instructions: {name}: {match.group(1)}")
        return name, int(match.group(1).replace(",", ""))

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(count, VARIANTS))


def table(runs: Dict[str, Runs]) -> str:
    base = runs["untraced"]
    headers = ["variant", "wall median s", "min s", "max s", "ratio", "CPU s", "min", "max", "CPU ratio",
               "children CPU s", "children ratio", "children alive"]
    rows = []
    for name in VARIANTS:
        run = runs[name]
        wall, cpu, kids = (runner.median(v) for v in (run.wall_s, run.cpu_s, run.children_cpu_s))
        base_wall, base_cpu, base_kids = (runner.median(v) for v in (base.wall_s, base.cpu_s, base.children_cpu_s))
        rows.append([
            name, f"{wall:.3f}", f"{min(run.wall_s):.3f}", f"{max(run.wall_s):.3f}", f"{wall / base_wall:.3f}x",
            f"{cpu:.3f}", f"{min(run.cpu_s):.3f}", f"{max(run.cpu_s):.3f}", f"{cpu / base_cpu:.3f}x",
            f"{kids:.3f}", f"{kids / base_kids:.3f}x" if base_kids else "n/a", str(max(run.children)),
        ])
    ratios = [t / u for t, u in zip(runs["traced"].wall_s, base.wall_s)]
    return (runner.format_table(headers, rows)
            + f"\nper-round wall ratios (traced / untraced of the same round): median {runner.median(ratios):.3f}x, "
              f"min {min(ratios):.3f}x, max {max(ratios):.3f}x")


def instruction_table(counts: Dict[str, int], module: str) -> str:
    rows = [[name, f"{counts[name] / 1e9:.3f}", f"{counts[name] / counts['untraced']:.3f}x"] for name in VARIANTS]
    return runner.format_table([f"import {module}", "instructions (G)", "ratio"], rows)


def _installed(python: str, command: Sequence[str], root: str) -> Optional[str]:
    """Why the app cannot run here, or None."""
    if not os.path.isfile(python):
        return f"{python} not found"
    if not os.path.isdir(root):
        return f"the app's package {root} is not installed"
    executable = command[0]
    if os.sep not in executable:
        executable = shutil.which(executable, path=os.path.dirname(python)) or shutil.which(executable) or ""
    if not executable or not os.path.isfile(executable):
        return f"{command[0]} not found (beside {python} or on PATH)"
    probe = subprocess.run([python, "-c", "import otel_import_tracer"], capture_output=True)
    if probe.returncode != 0:
        return f"the tracer is not installed into {python}'s environment (uv pip install -e .)"
    return None


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     usage="%(prog)s --python PY --root DIR --url URL [options] -- COMMAND ...")
    parser.add_argument("--python", required=True, help="the app's venv's python (its bin/ is put first on PATH)")
    parser.add_argument("--root", required=True, help="IMPORT_TRACING_ROOT: the app package's directory in site-packages")
    parser.add_argument("--url", required=True, help="answers 2xx once the server is ready")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds a start may take")
    parser.add_argument("--cwd", default=None, help="working directory of the server (default: a temporary one)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="for the app (repeatable)")
    parser.add_argument("--instructions", metavar="MODULE", help="also count `import MODULE`'s instructions under valgrind")
    parser.add_argument("--no-warmup", action="store_true")
    parser.add_argument("command", nargs="+", help="the server's command line (after --)")
    options = parser.parse_args(argv)
    python = os.path.abspath(options.python)
    root = os.path.abspath(options.root)
    extra = dict(item.split("=", 1) for item in options.env)
    extra["PATH"] = os.path.dirname(python) + os.pathsep + os.environ.get("PATH", "")
    extra["VIRTUAL_ENV"] = os.path.dirname(os.path.dirname(python))
    reason = _installed(python, options.command, root)
    if reason:
        print(f"SKIP: {reason}; see benchmarks/README.md (Real apps) for how to install it", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory(prefix="otel-bench-real-") as work:
        cwd = os.path.abspath(options.cwd) if options.cwd else work
        runs = measure(options.command, root, options.url, options.rounds, cwd, options.timeout, extra,
                       warmup=not options.no_warmup)
        counts = count_instructions(python, options.instructions, root, cwd, extra) if options.instructions else None
    print(f"{' '.join(options.command)}: ready at {options.url}, {options.rounds} rounds, interleaved; "
          f"root {root}")
    print(table(runs))
    if counts:
        print(instruction_table(counts, options.instructions))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
