"""Requests: throughput of ``/ping`` (trivial) and ``/work`` (call-heavy) under real uvicorn.

One uvicorn process per variant (single worker), all started up front and left idle
while another is measured. Load comes from a separate process: ``wrk`` if it is
installed (Debian package ``wrk``), otherwise a small multi-threaded keep-alive client
(``python -m benchmarks.bench_requests client URL``). With two CPUs or more, the server
under load is pinned to one CPU and the load generator to another.

Each round visits every variant (in a different shuffled order each round) and, for each
endpoint, runs a short warm-up then a fixed-duration measurement; the table gives the
median requests/s over rounds and its ratio to untraced. At the end every server gets
SIGTERM (as ``docker stop`` sends), and the modules each tracing variant recorded are
checked against the ground truth.

Run alone: ``python -m benchmarks.bench_requests --modules 1000 --rounds 5 --duration 3``.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from typing import Dict, List, Optional, Sequence

from benchmarks import runner
from benchmarks.appgen import GeneratedApp, generate_app
from benchmarks.runner import Variant

ENDPOINTS = ("/ping", "/work")
SERVER_CPU = 0
LOAD_CPU = 1


@dataclasses.dataclass
class Server:
    variant: Variant
    proc: "subprocess.Popen[bytes]"
    port: int
    log_path: str
    coverage_file: str

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        with open(self.log_path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")


@dataclasses.dataclass
class LoadResult:
    rps: float
    requests: int
    errors: int


@dataclasses.dataclass
class EndpointRuns:
    rps: List[float] = dataclasses.field(default_factory=list)
    cpu_us: List[float] = dataclasses.field(default_factory=list)  # server CPU per request
    errors: int = 0

    @property
    def median(self) -> float:
        return runner.median(self.rps)

    @property
    def median_cpu_us(self) -> float:
        return runner.median(self.cpu_us)


@dataclasses.dataclass
class VariantServing:
    variant: Variant
    endpoints: Dict[str, EndpointRuns]
    missing: Optional[List[str]] = None
    error: Optional[str] = None


@dataclasses.dataclass
class RequestResult:
    app: GeneratedApp
    rounds: int
    duration: float
    load_generator: str
    runs: Dict[str, VariantServing]

    def ratio(self, name: str, endpoint: str) -> float:
        return self.ratio_to(name, self.runs[name].variant.baseline, endpoint)

    def ratio_to(self, name: str, baseline: str, endpoint: str) -> float:
        serving = self.runs[name]
        base = self.runs.get(baseline)
        if base is None or base.error or serving.error:
            return float("nan")
        base_rps = base.endpoints[endpoint].median
        return serving.endpoints[endpoint].median / base_rps if base_rps else float("nan")

    def cpu_ratio(self, name: str, endpoint: str) -> float:
        """Throughput-equivalent ratio from server CPU per request (baseline CPU / variant CPU).

        On a busy machine the server loses its CPU to other processes now and then, which
        moves requests/s but hardly the CPU each request costs: this is the steadier figure.
        """
        serving = self.runs[name]
        base = self.runs.get(serving.variant.baseline)
        if base is None or base.error or serving.error:
            return float("nan")
        mine = serving.endpoints[endpoint].median_cpu_us
        return base.endpoints[endpoint].median_cpu_us / mine if mine else float("nan")

    def failures(self) -> List[str]:
        problems = []
        for name, serving in self.runs.items():
            if serving.error:
                problems.append(f"requests/{name}: {serving.error}")
            elif serving.missing and serving.variant.kind == "ours":
                problems.append(f"requests/{name}: missed {len(serving.missing)} module(s), e.g. {serving.missing[:3]}")
            for endpoint, runs in serving.endpoints.items():
                if runs.errors:
                    problems.append(f"requests/{name}{endpoint}: {runs.errors} failed request(s)")
        return problems

    def target_misses(self) -> List[str]:
        misses = []
        for name, serving in self.runs.items():
            if not serving.variant.has_target:
                continue
            for endpoint in serving.endpoints:
                ratio = self.ratio(name, endpoint)
                if not ratio >= runner.REQUEST_TARGET:
                    misses.append(f"requests/{name}{endpoint}: {ratio:.3f}x < {runner.REQUEST_TARGET:.2f}x")
        return misses


# -- load generation ---------------------------------------------------------------------------


def load_generator() -> str:
    return "wrk" if shutil.which("wrk") else "python"


def drive(url: str, duration: float, connections: int) -> LoadResult:
    """Load ``url`` for ``duration`` seconds from a separate process; requests per second."""
    if shutil.which("wrk"):
        # wrk takes whole seconds only.
        argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "30s", url]
    else:
        argv = [sys.executable, "-m", "benchmarks.bench_requests", "client", url,
                "--duration", str(duration), "--connections", str(connections)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=runner.REPO)
    runner.pin(proc.pid, LOAD_CPU)
    out, _ = proc.communicate(timeout=duration + 120)
    text = out.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({proc.returncode}): {text[-2000:]}")
    return _parse_wrk(text) if argv[0] == "wrk" else _parse_client(text)


def _parse_wrk(text: str) -> LoadResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in", text)
    if rps is None or total is None:
        raise RuntimeError(f"cannot read wrk's output:\n{text}")
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if non_2xx:
        errors += int(non_2xx.group(1))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if socket_errors:
        errors += sum(int(group) for group in socket_errors.groups())
    return LoadResult(float(rps.group(1)), int(total.group(1)), errors)


def _parse_client(text: str) -> LoadResult:
    match = re.search(r"BENCH_CLIENT requests=(\d+) errors=(\d+) seconds=([\d.]+)", text)
    if match is None:
        raise RuntimeError(f"cannot read the client's output:\n{text}")
    requests, errors, seconds = int(match.group(1)), int(match.group(2)), float(match.group(3))
    return LoadResult(requests / seconds, requests, errors)


def client_main(url: str, duration: float, connections: int) -> int:
    """A keep-alive HTTP/1.1 client: ``connections`` threads, each with one connection."""
    parsed = urllib.request.urlparse(url)
    counts = [0] * connections
    errors = [0] * connections
    start = time.perf_counter()
    deadline = start + duration

    def worker(index: int) -> None:
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        path = parsed.path or "/"
        while time.perf_counter() < deadline:
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                if response.status == 200:
                    counts[index] += 1
                else:
                    errors[index] += 1
            except (OSError, http.client.HTTPException):
                errors[index] += 1
                connection.close()
                connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    print(f"BENCH_CLIENT requests={sum(counts)} errors={sum(errors)} seconds={elapsed:.4f}")
    return 0


# -- servers -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(app: GeneratedApp, variant: Variant, child: str, log_dir: str, timeout: float = 180.0) -> Server:
    port = _free_port()
    coverage_file = os.path.join(app.dest_dir, f".coverage.serve.{variant.name}")
    if os.path.exists(coverage_file):
        os.unlink(coverage_file)
    log_path = os.path.join(log_dir, f"serve-{variant.name}.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            runner.serve_argv(variant, app, child, port),
            env=runner.child_env(variant, app, coverage_file),
            cwd=app.dest_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    runner.pin(proc.pid, SERVER_CPU)
    server = Server(variant, proc, port, log_path, coverage_file)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{variant.name}: server exited ({proc.returncode}):\n{server.output()[-3000:]}")
        try:
            with urllib.request.urlopen(server.base_url + "/ping", timeout=5) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.1)
    runner.terminate(proc)
    raise RuntimeError(f"{variant.name}: server not ready after {timeout:.0f}s:\n{server.output()[-3000:]}")


def run_requests(
    app: GeneratedApp,
    variants: Sequence[Variant],
    rounds: int,
    duration: float,
    warmup: float = 1.0,
    connections: int = 10,
    endpoints: Sequence[str] = ENDPOINTS,
) -> RequestResult:
    child = runner.write_child(app)
    # sdk-export sends its spans once the app has started, then exits: no serving form.
    variants = [variant for variant in variants if variant.starter != "sdk-export"]
    runs = {v.name: VariantServing(v, {e: EndpointRuns() for e in endpoints}) for v in variants}
    servers: Dict[str, Server] = {}
    generator = load_generator()
    with tempfile.TemporaryDirectory(prefix="otel-bench-serve-") as log_dir:
        try:
            for variant in variants:
                try:
                    servers[variant.name] = start_server(app, variant, child, log_dir)
                except RuntimeError as exc:
                    runs[variant.name].error = str(exc).splitlines()[0]
                    runner.log(f"requests: {exc}")
            runner.log(f"requests: {len(servers)} servers up; load from {generator}, {connections} connections")
            if warmup > 0:
                for server in servers.values():  # first requests: lazy imports, first-seen code
                    for endpoint in endpoints:
                        drive(server.base_url + endpoint, warmup, connections)
            for round_index in range(rounds):
                for variant in runner.round_order([v for v in variants if v.name in servers], round_index):
                    for endpoint in endpoints:
                        _measure(servers[variant.name], endpoint, runs[variant.name].endpoints[endpoint],
                                 duration, warmup, connections)
                runner.log(f"requests: round {round_index + 1}/{rounds}: " + "  ".join(
                    f"{name}={'/'.join(f'{r.endpoints[e].rps[-1]:.0f}' for e in endpoints)}"
                    for name, r in runs.items() if name in servers and r.endpoints[endpoints[0]].rps))
        finally:
            for name, server in servers.items():
                runner.terminate(server.proc)
                serving = runs[name]
                output = server.output()
                missing = runner.missing_modules(server.variant, app, output, server.coverage_file)
                serving.missing = missing
                # uvicorn re-raises the signal it shut down on: -SIGTERM is a clean exit too.
                if server.proc.returncode not in (0, -signal.SIGTERM, None) and not serving.error:
                    serving.error = f"exit {server.proc.returncode} at shutdown"
                    runner.log(f"requests: {name} shutdown output:\n{output[-3000:]}")
    return RequestResult(app, rounds, duration, generator, runs)


def _measure(server: Server, endpoint: str, runs: EndpointRuns, duration: float, warmup: float, connections: int) -> None:
    url = server.base_url + endpoint
    if warmup > 0:
        drive(url, warmup, connections)
    before = process_cpu_s(server.proc.pid)
    result = drive(url, duration, connections)
    after = process_cpu_s(server.proc.pid)
    runs.rps.append(result.rps)
    if before is not None and after is not None and result.requests:
        runs.cpu_us.append((after - before) / result.requests * 1e6)
    runs.errors += result.errors


def process_cpu_s(pid: int) -> Optional[float]:
    """User + system CPU seconds of a running process (all its threads), from /proc; None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    # After "pid (comm)": state is field 3, utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tables(result: RequestResult) -> str:
    parts = []
    for endpoint in next(iter(result.runs.values())).endpoints:
        headers = ["variant", "median req/s", "min", "max", "ratio", "CPU us/req", "CPU ratio", "complete", "target",
                   "result"]
        rows = []
        for name, serving in result.runs.items():
            variant = serving.variant
            runs = serving.endpoints[endpoint]
            if serving.error or not runs.rps:
                rows.append([name, "error", "", "", "", "", "", "", "", (serving.error or "no data")[:60]])
                continue
            ratio = result.ratio(name, endpoint)
            ratio_text = f"{ratio:.3f}x"
            if variant.baseline != "untraced":
                ratio_text += f" vs {variant.baseline} ({result.ratio_to(name, 'untraced', endpoint):.2f}x vs untraced)"
            complete = "n/a" if serving.missing is None else ("yes" if not serving.missing else f"NO ({len(serving.missing)} missed)")
            target = f">= {runner.REQUEST_TARGET:.2f}x" if variant.has_target else ""
            verdict = ("PASS" if ratio >= runner.REQUEST_TARGET else "FAIL") if variant.has_target else ""
            if (serving.missing and variant.kind == "ours") or runs.errors:
                verdict = "FAIL"
            cpu = f"{runs.median_cpu_us:.0f}" if runs.cpu_us else "n/a"
            cpu_ratio = f"{result.cpu_ratio(name, endpoint):.3f}x" if runs.cpu_us else "n/a"
            rows.append([name, f"{runs.median:.0f}", f"{min(runs.rps):.0f}", f"{max(runs.rps):.0f}",
                         "1.000x" if name == "untraced" else ratio_text, cpu, cpu_ratio, complete, target, verdict])
        parts.append(f"GET {endpoint}\n" + runner.format_table(headers, rows))
    return "\n\n".join(parts)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["client"]:
        parser = argparse.ArgumentParser(prog="bench_requests client")
        parser.add_argument("url")
        parser.add_argument("--duration", type=float, default=3.0)
        parser.add_argument("--connections", type=int, default=10)
        options = parser.parse_args(args[1:])
        return client_main(options.url, options.duration, options.connections)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--variants", help="comma-separated subset (untraced is always run)")
    options = parser.parse_args(args)
    with tempfile.TemporaryDirectory(prefix="otel-bench-requests-") as work:
        app = generate_app(work, options.modules)
        variants = runner.select(runner.all_variants(), options.variants.split(",") if options.variants else None)
        result = run_requests(app, variants, options.rounds, options.duration, options.warmup, options.connections)
    print(tables(result))
    return 1 if result.failures() else 0


if __name__ == "__main__":
    raise SystemExit(main())
