"""Static checks of the observability stack: docker-compose.otel.yml and deploy/.

No container runtime is available to the tests, so everything is checked by parsing:
the compose file, the collector config, tempo.yaml, Grafana provisioning and dashboard,
the demo Dockerfile, the env files, and the TraceQL in the docs and the dashboard.

Each ``*_problems`` function returns a list of human-readable problems (empty = good).
The real files must produce none; ``test_a_broken_stack_is_caught`` feeds deliberately
broken copies to the same functions and expects the matching problem, so the checks are
known to be able to fail.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Set, Tuple

import pytest
import yaml

from otel_import_tracer import semconv
from otel_import_tracer.config import DEFAULT_ROOT, ENABLE_IMPORT_TRACING

# Nothing here depends on the collector: the per-collector reruns skip it (scripts/test.sh).
pytestmark = [pytest.mark.collector_independent, pytest.mark.once]  # files and pins, not Python

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
COMPOSE_FILE = REPO / "docker-compose.otel.yml"
COLLECTOR_FILE = DEPLOY / "otel-collector.yaml"
TEMPO_FILE = DEPLOY / "tempo.yaml"
DATASOURCES_FILE = DEPLOY / "grafana" / "provisioning" / "datasources" / "datasources.yaml"
PROVIDERS_FILE = DEPLOY / "grafana" / "provisioning" / "dashboards" / "dashboards.yaml"
DASHBOARD_FILE = DEPLOY / "grafana" / "dashboards" / "startup.json"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
ENV_DIR = DEPLOY / "env"
DEPLOY_README = DEPLOY / "README.md"
STACK_DOC = REPO / "docs" / "stack.md"  # the user-facing stack page of the documentation site
STACK_DOC_NAME = "docs/stack.md"
DEMO_SRC = DEPLOY / "demo" / "src"

# Service names as the issue and the README name them.
COLLECTOR, JAEGER, TEMPO, GRAFANA, DEMO = "otel-collector", "jaeger", "tempo", "grafana", "demo"
SERVICES = {COLLECTOR, JAEGER, TEMPO, GRAFANA, DEMO}
# Host ports each service must publish (host port = container port).
PUBLISHED = {COLLECTOR: {4317, 4318}, JAEGER: {16686}, TEMPO: {3200}, GRAFANA: {3000}, DEMO: {8000}}
OTLP_PORTS = {4317, 4318}
# Images FROM scratch or distroless: no shell, so no CMD-SHELL healthcheck can work.
SHELL_LESS = {COLLECTOR, TEMPO}
JAEGER_OTLP_PORTS = {"grpc": 4317, "http": 4318}  # the image's embedded all-in-one config
JAEGER_QUERY_PORT = 16686
COLLECTOR_DEFAULT_CONFIG = "/etc/otelcol-contrib/config.yaml"

# Tempo top-level config keys, per major version. Tempo parses its config with
# yaml.UnmarshalStrict, so a key from the other major version is fatal at startup.
TEMPO_FORBIDDEN = {
    3: {"ingester", "ingester_client", "compactor", "metrics_generator_client"},
    2: {"live_store", "live_store_client"},
}
TEMPO_COMMON_KEYS = {
    "target", "http_api_prefix", "server", "internal_server", "distributor", "querier",
    "query_frontend", "metrics_generator", "storage", "overrides", "memberlist", "usage_report",
    "cache", "stream_over_http_enabled", "multitenancy_enabled", "ingest", "block_builder",
    "backend_scheduler", "backend_scheduler_client", "backend_worker",
}
TEMPO_ALLOWED = {
    3: TEMPO_COMMON_KEYS | {"live_store", "live_store_client"},
    2: TEMPO_COMMON_KEYS | TEMPO_FORBIDDEN[3],
}
# Nested keys that exist only from a given Tempo major on.
TEMPO_NESTED_SINCE = {("query_frontend", "query_end_cutoff"): 3}

# Names the package emits, straight from its constants.
EVENT_NAMES = {semconv.EVENT_MODULE_LOADED, semconv.EVENT_IMPORT_FAILED, semconv.EVENT_DEPENDENCY_LOADED}
EXACT_SPAN_NAMES = {semconv.SPAN_STARTUP, semconv.SPAN_LAZY_IMPORT}
ATTRIBUTES = {
    value for name, value in vars(semconv).items() if name.startswith("ATTR_") and isinstance(value, str)
}
# Attributes only one of the two events carries: ANDed with the other event's name, a
# selector can never match (ANDed event conditions must hold on the same event).
ONLY_ON_EVENT = {
    semconv.ATTR_LAZY: semconv.EVENT_MODULE_LOADED,
    semconv.ATTR_PRELOADED: semconv.EVENT_MODULE_LOADED,
    semconv.ATTR_IMPORT_DURATION_MS: semconv.EVENT_MODULE_LOADED,
    semconv.ATTR_EXCEPTION_TYPE: semconv.EVENT_IMPORT_FAILED,
    semconv.ATTR_EXCEPTION_MESSAGE: semconv.EVENT_IMPORT_FAILED,
}
BOOL_ATTRIBUTES = {semconv.ATTR_LAZY, semconv.ATTR_PRELOADED, semconv.ATTR_MODULE_DEPENDENCY}
# python.module.import_duration_ms is a float; Tempo never matches a float attribute
# against an integer literal (grafana/tempo#4332), so thresholds need a decimal point.
FLOAT_ATTRIBUTES = {semconv.ATTR_IMPORT_DURATION_MS}
RESOURCE_ATTRIBUTES = {"service.name", "deployment.environment.name"}
INTRINSICS = {
    "event:name", "event:timeSinceStart", "span:name", "span:duration", "span:status",
    "span:statusMessage", "span:kind", "span:id", "span:parentID", "trace:id", "trace:rootName",
    "trace:rootService", "trace:duration",
}


# --------------------------------------------------------------------------- the stack


@dataclasses.dataclass
class Stack:
    """Everything the checks read, parsed, so a test can break a copy of it."""

    compose: Dict[str, Any]
    collector: Dict[str, Any]
    tempo: Dict[str, Any]
    datasources: Dict[str, Any]
    datasources_text: str
    providers: Dict[str, Any]
    dashboard: Dict[str, Any]
    dockerfile: str
    dockerignore: str
    env_files: Dict[str, Dict[str, str]]
    readmes: Dict[str, str]

    def copy(self) -> "Stack":
        return copy.deepcopy(self)


def _yaml(path: Path) -> Dict[str, Any]:
    with path.open(encoding="utf-8") as stream:
        data = yaml.safe_load(stream)
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def read_env_file(path: Path) -> Dict[str, str]:
    values: Dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path}: not KEY=VALUE: {line!r}"
        values[key.strip()] = value
    return values


def load_stack() -> Stack:
    # The user-facing sections live in docs/stack.md; deploy/README.md indexes the folder.
    readmes = {STACK_DOC_NAME: STACK_DOC.read_text(encoding="utf-8"),
               "deploy/README.md": DEPLOY_README.read_text(encoding="utf-8")}
    return Stack(
        compose=_yaml(COMPOSE_FILE),
        collector=_yaml(COLLECTOR_FILE),
        tempo=_yaml(TEMPO_FILE),
        datasources=_yaml(DATASOURCES_FILE),
        datasources_text=DATASOURCES_FILE.read_text(encoding="utf-8"),
        providers=_yaml(PROVIDERS_FILE),
        dashboard=json.loads(DASHBOARD_FILE.read_text(encoding="utf-8")),
        dockerfile=DOCKERFILE.read_text(encoding="utf-8"),
        dockerignore=DOCKERIGNORE.read_text(encoding="utf-8"),
        env_files={path.stem: read_env_file(path) for path in sorted(ENV_DIR.glob("*.env"))},
        readmes=readmes,
    )


@pytest.fixture(scope="module")
def stack() -> Stack:
    return load_stack()


# --------------------------------------------------------------------------- helpers


def split_image(image: str) -> Tuple[str, Optional[str]]:
    """``repo[:tag][@digest]`` -> (repo, tag); a registry port is not a tag."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = name.rsplit(":", 1)
        return repo, tag
    return name, None


def version_tuple(tag: str) -> Tuple[int, ...]:
    match = re.match(r"v?(\d+(?:\.\d+)*)", tag)
    assert match, f"not a version: {tag!r}"
    return tuple(int(part) for part in match.group(1).split("."))


def image_of(compose: Mapping[str, Any], service: str) -> Tuple[str, Tuple[int, ...]]:
    repo, tag = split_image(compose["services"][service]["image"])
    return repo, version_tuple(tag or "0")


def interpolate(value: str, environ: Mapping[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR-default}``."""

    def substitute(match: "re.Match[str]") -> str:
        name, colon, default = match.group(1), match.group(2), match.group(3)
        if name in environ and (environ[name] != "" or not colon):
            return environ[name]
        return default or ""

    return re.sub(r"\$\{(\w+)(?:(:?)-([^}]*))?\}", substitute, value)


def published_ports(service: Mapping[str, Any]) -> List[Tuple[Optional[str], Optional[int], int]]:
    """(host ip, host port or None, container port) for each entry of ``ports``."""
    result: List[Tuple[Optional[str], Optional[int], int]] = []
    for entry in service.get("ports", []) or []:
        if isinstance(entry, dict):
            published = entry.get("published")
            result.append(
                (entry.get("host_ip"), int(published) if published else None, int(entry["target"]))
            )
            continue
        spec = str(entry).split("/", 1)[0]
        parts = spec.rsplit(":", 2)
        if len(parts) == 1:
            result.append((None, None, int(parts[0])))
        elif len(parts) == 2:
            result.append((None, int(parts[0]) if parts[0] else None, int(parts[1])))
        else:
            result.append((parts[0], int(parts[1]) if parts[1] else None, int(parts[2])))
    return result


def bind_mounts(service: Mapping[str, Any]) -> List[Tuple[str, str]]:
    """(source relative to the repo, container target) for each bind mount."""
    mounts: List[Tuple[str, str]] = []
    for entry in service.get("volumes", []) or []:
        if isinstance(entry, dict):
            if entry.get("type") == "bind":
                mounts.append((entry["source"], entry["target"]))
            continue
        parts = str(entry).split(":")
        if len(parts) >= 2 and parts[0].startswith((".", "/")):
            mounts.append((parts[0], parts[1]))
    return mounts


def named_volumes(service: Mapping[str, Any]) -> List[Tuple[str, str]]:
    volumes: List[Tuple[str, str]] = []
    for entry in service.get("volumes", []) or []:
        if isinstance(entry, dict):
            if entry.get("type") == "volume":
                volumes.append((entry["source"], entry["target"]))
            continue
        parts = str(entry).split(":")
        if len(parts) >= 2 and not parts[0].startswith((".", "/", "~", "$")):
            volumes.append((parts[0], parts[1]))
    return volumes


def host_path(source: str) -> Path:
    return (REPO / source).resolve()


def mounted_at(compose: Mapping[str, Any], service: str, host_file: Path) -> List[str]:
    """Container paths where ``host_file`` (or a folder holding it) is mounted."""
    paths = []
    for source, target in bind_mounts(compose["services"][service]):
        source_path = host_path(source)
        if source_path == host_file.resolve():
            paths.append(target)
        elif source_path in host_file.resolve().parents:
            paths.append(target.rstrip("/") + "/" + str(host_file.resolve().relative_to(source_path)))
    return paths


def environment_of(service: Mapping[str, Any]) -> Dict[str, str]:
    env = service.get("environment", {}) or {}
    if isinstance(env, list):
        return dict(str(item).partition("=")[::2] for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def env_file_paths(service: Mapping[str, Any], environ: Mapping[str, str]) -> List[str]:
    entries = service.get("env_file", []) or []
    if isinstance(entries, (str, dict)):
        entries = [entries]
    paths = []
    for entry in entries:
        path = entry["path"] if isinstance(entry, dict) else entry
        paths.append(interpolate(str(path), environ))
    return paths


def host_and_port(endpoint: str) -> Tuple[str, int]:
    endpoint = re.sub(r"^[a-z]+://", "", str(endpoint)).split("/", 1)[0]
    host, _, port = endpoint.rpartition(":")
    return host, int(port)


def walk(node: Any, path: Tuple[str, ...] = ()) -> Iterator[Tuple[Tuple[str, ...], Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, path + (str(key),))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, path + (str(index),))


def tempo_major(compose: Mapping[str, Any]) -> int:
    return image_of(compose, TEMPO)[1][0]


def tempo_otlp_ports(tempo: Mapping[str, Any]) -> Dict[str, int]:
    protocols = (((tempo.get("distributor") or {}).get("receivers") or {}).get("otlp") or {}).get("protocols") or {}
    return {
        name: host_and_port(settings["endpoint"])[1]
        for name, settings in protocols.items()
        if isinstance(settings, dict) and "endpoint" in settings
    }


def demo_modules() -> Set[str]:
    """Module names of the demo: /app/src/models/domain.py -> src.models.domain."""
    names = set()
    for path in DEMO_SRC.rglob("*.py"):
        parts = list(path.relative_to(DEMO_SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.add(".".join(parts))
    return names


def demo_imported_names() -> Set[str]:
    """Top-level names the demo's code tries to import (failed optional imports included)."""
    names = set()
    for path in DEMO_SRC.rglob("*.py"):
        for match in re.finditer(r"^\s*(?:import|from)\s+([\w.]+)", path.read_text(encoding="utf-8"), re.M):
            names.add(match.group(1))
    return names


# --------------------------------------------------------------------------- compose


def compose_problems(stack: Stack) -> List[str]:
    problems: List[str] = []
    services = stack.compose.get("services") or {}
    missing = SERVICES - set(services)
    if missing:
        problems.append(f"compose: missing services {sorted(missing)}")
    for name, service in services.items():
        image = service.get("image")
        if image is None:
            if "build" not in service:
                problems.append(f"compose: {name} has neither image nor build")
            continue
        repo, tag = split_image(str(image))
        if "@sha256:" in str(image):
            continue
        if tag is None or tag == "latest" or "${" in str(image):
            problems.append(f"compose: {name} image {image!r} is not pinned (no tag, or latest)")
        elif not re.fullmatch(r"v?\d+\.\d+\.\d+", tag):
            problems.append(f"compose: {name} image {image!r} is not pinned to a full x.y.z version")
    if problems:
        return problems

    jaeger_version = image_of(stack.compose, JAEGER)[1]
    if not (2, 0) <= jaeger_version < (2, 21):
        problems.append(
            f"compose: jaeger {jaeger_version} — use 2.x below 2.21: 2.21 removed the v1 search "
            "API that Grafana's Jaeger data source uses"
        )
    if tempo_major(stack.compose) not in TEMPO_FORBIDDEN or image_of(stack.compose, TEMPO)[1] < (2, 6):
        problems.append("compose: tempo must be 2.x (>= 2.6, TraceQL on events) or 3.x")

    # Ports.
    seen_host_ports: Dict[int, str] = {}
    for name, service in services.items():
        ports = published_ports(service)
        for host_ip, host_port, container_port in ports:
            if host_port is None:
                continue
            if host_port in seen_host_ports:
                problems.append(f"compose: host port {host_port} published by {seen_host_ports[host_port]} and {name}")
            seen_host_ports[host_port] = name
            if host_port in OTLP_PORTS and name != COLLECTOR:
                problems.append(f"compose: {name} publishes OTLP port {host_port}; only the collector may")
        published = {(host_port, container_port) for _, host_port, container_port in ports}
        for port in PUBLISHED.get(name, set()):
            if (port, port) not in published:
                problems.append(f"compose: {name} must publish {port}:{port}")

    # Dependencies and healthchecks.
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        targets = depends if isinstance(depends, dict) else {target: {} for target in depends}
        for target, settings in targets.items():
            if target not in services:
                problems.append(f"compose: {name} depends on unknown service {target}")
            elif (settings or {}).get("condition") == "service_healthy" and "healthcheck" not in services[target]:
                problems.append(f"compose: {name} waits for {target} to be healthy, but it has no healthcheck")
        test = (service.get("healthcheck") or {}).get("test")
        if name in SHELL_LESS and test:
            problems.append(f"compose: {name}'s image has no shell or tools: a healthcheck cannot run there")
    for target, name in ((COLLECTOR, DEMO), (TEMPO, COLLECTOR), (JAEGER, COLLECTOR), (TEMPO, GRAFANA)):
        depends = services[name].get("depends_on") or {}
        if target not in depends:
            problems.append(f"compose: {name} should depend on {target}")

    # Mounts and volumes.
    declared_volumes = set((stack.compose.get("volumes") or {}).keys())
    for name, service in services.items():
        for source, _target in bind_mounts(service):
            if not host_path(source).exists():
                problems.append(f"compose: {name} mounts {source}, which does not exist")
        for volume, _target in named_volumes(service):
            if volume not in declared_volumes:
                problems.append(f"compose: {name} uses volume {volume}, not declared at the top level")
    if not any(target == "/var/tempo" for _, target in named_volumes(services[TEMPO])):
        problems.append("compose: tempo needs a named volume on /var/tempo (it runs as UID 10001)")

    # The demo.
    demo = services[DEMO]
    build = demo.get("build")
    if not isinstance(build, dict):
        problems.append("compose: demo must be built (build: {context, dockerfile})")
    else:
        context = host_path(str(build.get("context", ".")))
        dockerfile = context / str(build.get("dockerfile", "Dockerfile"))
        if context != REPO or dockerfile.resolve() != DOCKERFILE.resolve():
            problems.append("compose: demo must build deploy/Dockerfile with the repository root as context")
    problems.extend(demo_environment_problems(stack))
    return problems


def demo_environment_problems(stack: Stack) -> List[str]:
    problems: List[str] = []
    demo = stack.compose["services"][DEMO]
    environment = environment_of(demo)
    for key in (ENABLE_IMPORT_TRACING, "OTEL_RESOURCE_ATTRIBUTES"):
        if key in environment:
            problems.append(f"compose: demo sets {key} under environment:, which overrides the env file toggle")
    default_files = env_file_paths(demo, {})
    if not default_files:
        problems.append("compose: demo has no env_file: the staging/production toggle is missing")
    effective: Dict[str, str] = {}
    for path in default_files:
        file = host_path(path)
        if not file.is_file():
            problems.append(f"compose: demo env_file {path} does not exist")
            continue
        effective.update(stack.env_files.get(file.stem, read_env_file(file)))
    effective.update(environment)
    if effective.get(ENABLE_IMPORT_TRACING, "").lower() != "true":
        problems.append("compose: the demo must run with tracing on by default (ENABLE_IMPORT_TRACING=true)")
    if effective.get("OTEL_TRACES_EXPORTER") != "otlp":
        problems.append("compose: the demo must export with OTEL_TRACES_EXPORTER=otlp")
    protocol = effective.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    endpoint = effective.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    if not endpoint:
        problems.append("compose: the demo has no OTEL_EXPORTER_OTLP_ENDPOINT")
    else:
        host, port = host_and_port(endpoint)
        receiver = collector_receiver_ports(stack.collector)
        wanted = receiver.get("grpc" if protocol == "grpc" else "http")
        if host != COLLECTOR or port != wanted:
            problems.append(
                f"compose: demo exports to {endpoint} ({protocol}), not to the collector's "
                f"{'grpc' if protocol == 'grpc' else 'http'} receiver ({COLLECTOR}:{wanted})"
            )
    for environ in ({"DEPLOY_ENV": name} for name in stack.env_files):
        for path in env_file_paths(demo, environ):
            if not host_path(path).is_file():
                problems.append(f"compose: with {environ}, env_file {path} does not exist")
    return problems


# --------------------------------------------------------------------------- collector


def collector_receiver_ports(collector: Mapping[str, Any]) -> Dict[str, int]:
    protocols = ((collector.get("receivers") or {}).get("otlp") or {}).get("protocols") or {}
    return {
        name: host_and_port(settings["endpoint"])[1]
        for name, settings in protocols.items()
        if isinstance(settings, dict) and "endpoint" in settings
    }


def collector_problems(stack: Stack) -> List[str]:
    problems: List[str] = []
    config = stack.collector
    version = image_of(stack.compose, COLLECTOR)[1]

    # Every receiver and extension endpoint binds 0.0.0.0 (the default is localhost).
    for section in ("receivers", "extensions"):
        for path, node in walk(config.get(section) or {}):
            if path and path[-1] == "endpoint" and not str(node).startswith("0.0.0.0:"):
                problems.append(f"collector: {section}.{'.'.join(path)} = {node!r} must bind 0.0.0.0")
    for name, settings in ((config.get("receivers") or {}).get("otlp") or {}).get("protocols", {}).items():
        if not isinstance(settings, dict) or "endpoint" not in settings:
            problems.append(f"collector: receivers.otlp.protocols.{name} has no endpoint (defaults to localhost)")
    health = (config.get("extensions") or {}).get("health_check")
    if not isinstance(health, dict) or health.get("endpoint") != "0.0.0.0:13133":
        problems.append("collector: extensions.health_check.endpoint must be 0.0.0.0:13133")

    # Exporters: names valid for the pinned version, endpoints that exist in compose.
    services = stack.compose["services"]
    exporters = config.get("exporters") or {}
    targets: Set[str] = set()
    for name, settings in exporters.items():
        kind = name.split("/", 1)[0]
        if kind == "logging":
            problems.append("collector: the logging exporter was removed in v0.111.0; use debug")
            continue
        if kind in ("otlp", "otlphttp") and version >= (0, 144):
            problems.append(f"collector: {name}: since v0.144 the exporter is otlp_grpc / otlp_http ({kind} is a deprecated alias)")
        if kind in ("otlp_grpc", "otlp_http") and version < (0, 144):
            problems.append(f"collector: {name} needs collector >= 0.144, pinned {version}")
        if kind not in ("otlp", "otlphttp", "otlp_grpc", "otlp_http", "debug"):
            problems.append(f"collector: unexpected exporter {name}")
        if kind == "debug" or not isinstance(settings, dict):
            continue
        grpc = kind in ("otlp", "otlp_grpc")
        host, port = host_and_port(settings.get("endpoint", ""))
        if host not in services:
            problems.append(f"collector: exporter {name} sends to {host!r}, which is not a compose service")
            continue
        targets.add(host)
        if host == TEMPO:
            wanted = tempo_otlp_ports(stack.tempo).get("grpc" if grpc else "http")
        elif host == JAEGER:
            wanted = JAEGER_OTLP_PORTS["grpc" if grpc else "http"]
        else:
            wanted = None
        if port != wanted:
            protocol = "gRPC" if grpc else "HTTP"
            problems.append(f"collector: exporter {name} sends to port {port}; {host} receives {protocol} OTLP on {wanted}")
        plain = (settings.get("tls") or {}).get("insecure") is True or str(settings.get("endpoint", "")).startswith("http://")
        if not plain:
            problems.append(f"collector: exporter {name} needs tls.insecure: true (plain OTLP inside the network)")
    for wanted in (TEMPO, JAEGER):
        if wanted not in targets:
            problems.append(f"collector: no OTLP exporter sends to {wanted}")
    if not any(name.split("/", 1)[0] == "debug" for name in exporters):
        problems.append("collector: the debug exporter is missing")

    # Pipelines use only defined components.
    service = config.get("service") or {}
    for extension in service.get("extensions", []) or []:
        if extension not in (config.get("extensions") or {}):
            problems.append(f"collector: service.extensions names undefined {extension}")
    if "health_check" not in (service.get("extensions") or []):
        problems.append("collector: health_check is not enabled in service.extensions")
    traces = ((service.get("pipelines") or {}).get("traces")) or {}
    for kind in ("receivers", "processors", "exporters"):
        for component in traces.get(kind, []) or []:
            if component not in (config.get(kind) or {}):
                problems.append(f"collector: traces pipeline uses undefined {kind[:-1]} {component}")
    if "otlp" not in (traces.get("receivers") or []):
        problems.append("collector: the traces pipeline does not receive OTLP")
    if "batch" not in (traces.get("processors") or []):
        problems.append("collector: the traces pipeline has no batch processor")
    if set(traces.get("exporters") or []) != set(exporters):
        problems.append("collector: the traces pipeline must use every exporter (Tempo, Jaeger, debug)")

    # The config file is the one the container reads.
    collector_service = services[COLLECTOR]
    command = collector_service.get("command") or []
    command = command.split() if isinstance(command, str) else command
    config_path = COLLECTOR_DEFAULT_CONFIG
    for index, arg in enumerate(command):
        if arg.startswith("--config="):
            config_path = arg.split("=", 1)[1]
        elif arg == "--config" and index + 1 < len(command):
            config_path = command[index + 1]
    if config_path not in mounted_at(stack.compose, COLLECTOR, COLLECTOR_FILE):
        problems.append(f"collector: deploy/otel-collector.yaml is not mounted at {config_path}, the config it reads")
    return problems


# --------------------------------------------------------------------------- tempo


def tempo_problems(stack: Stack) -> List[str]:
    problems: List[str] = []
    config = stack.tempo
    major = tempo_major(stack.compose)
    for key in config:
        if key in TEMPO_FORBIDDEN.get(major, set()):
            problems.append(f"tempo: `{key}:` is not valid in Tempo {major}.x (pinned), which refuses to start")
        elif key not in TEMPO_ALLOWED.get(major, set()):
            problems.append(f"tempo: unknown top-level key `{key}:` for Tempo {major}.x")
    for (section, key), since in TEMPO_NESTED_SINCE.items():
        if key in (config.get(section) or {}) and major < since:
            problems.append(f"tempo: {section}.{key} exists only from Tempo {since}.x")
    for path, node in walk((config.get("distributor") or {}).get("receivers") or {}):
        if path and path[-1] == "endpoint" and not str(node).startswith("0.0.0.0:"):
            problems.append(f"tempo: distributor.receivers.{'.'.join(path)} = {node!r} must bind 0.0.0.0")
    ports = tempo_otlp_ports(config)
    if ports.get("grpc") != 4317:
        problems.append("tempo: the OTLP gRPC receiver must listen on 0.0.0.0:4317")
    if (config.get("server") or {}).get("http_listen_port") != 3200:
        problems.append("tempo: server.http_listen_port must be 3200")
    trace = ((config.get("storage") or {}).get("trace")) or {}
    if trace.get("backend") != "local":
        problems.append("tempo: storage.trace.backend must be local (single binary)")
    volume_targets = [target for _, target in named_volumes(stack.compose["services"][TEMPO])]
    for part in ("wal", "local"):
        path = str((trace.get(part) or {}).get("path", ""))
        if not any(path.startswith(target.rstrip("/") + "/") for target in volume_targets):
            problems.append(f"tempo: storage.trace.{part}.path {path!r} is not on Tempo's volume")

    service = stack.compose["services"][TEMPO]
    command = service.get("command") or []
    command = command.split() if isinstance(command, str) else command
    config_args = [arg.split("=", 1)[1] for arg in command if arg.startswith("-config.file=")]
    if not config_args or config_args[0] not in mounted_at(stack.compose, TEMPO, TEMPO_FILE):
        problems.append("tempo: deploy/tempo.yaml must be mounted where -config.file points")
    if "-target=all" not in command:
        problems.append("tempo: run the single binary with -target=all")
    return problems


# --------------------------------------------------------------------------- grafana


def grafana_problems(stack: Stack) -> List[str]:
    problems: List[str] = []
    services = stack.compose["services"]
    sources = stack.datasources.get("datasources") or []
    if stack.datasources.get("apiVersion") != 1 or stack.providers.get("apiVersion") != 1:
        problems.append("grafana: provisioning files need apiVersion: 1")
    # Grafana expands $VAR and ${VAR} in provisioning files; a literal dollar is $$.
    for line in stack.datasources_text.splitlines():
        if re.search(r"(?<!\$)\$(?!\$)", line.split("#", 1)[0].replace("$$", "")):
            problems.append(f"grafana: datasources.yaml: unescaped $ in {line.strip()!r} (write $$)")
    uids: Dict[str, str] = {}
    for source in sources:
        uid = source.get("uid")
        if not uid:
            problems.append(f"grafana: datasource {source.get('name')} has no fixed uid")
            continue
        if uid in uids:
            problems.append(f"grafana: datasource uid {uid} is used twice")
        uids[uid] = source.get("type", "")
        host, port = host_and_port(source.get("url", ""))
        if host not in services:
            problems.append(f"grafana: datasource {uid} points at {host!r}, not a compose service")
        wanted = {"tempo": (TEMPO, (stack.tempo.get("server") or {}).get("http_listen_port")),
                  "jaeger": (JAEGER, JAEGER_QUERY_PORT)}.get(source.get("type", ""))
        if wanted and (host, port) != wanted:
            problems.append(f"grafana: datasource {uid} URL {source.get('url')} should be http://{wanted[0]}:{wanted[1]}")
        if source.get("type") == "tempo" and ((source.get("jsonData") or {}).get("streamingEnabled") or {}).get("search"):
            if stack.tempo.get("stream_over_http_enabled") is not True:
                problems.append("grafana: Tempo streaming search needs stream_over_http_enabled: true in tempo.yaml")
    for kind in ("tempo", "jaeger"):
        if kind not in uids.values():
            problems.append(f"grafana: no {kind} datasource")

    # Provisioning and dashboards are mounted where Grafana reads them.
    if "/etc/grafana/provisioning/datasources/datasources.yaml" not in mounted_at(stack.compose, GRAFANA, DATASOURCES_FILE):
        problems.append("grafana: datasources.yaml is not mounted under /etc/grafana/provisioning/datasources")
    if "/etc/grafana/provisioning/dashboards/dashboards.yaml" not in mounted_at(stack.compose, GRAFANA, PROVIDERS_FILE):
        problems.append("grafana: dashboards.yaml is not mounted under /etc/grafana/provisioning/dashboards")
    dashboard_in_container = mounted_at(stack.compose, GRAFANA, DASHBOARD_FILE)
    for provider in stack.providers.get("providers") or []:
        folder = str((provider.get("options") or {}).get("path", "")).rstrip("/")
        if not any(path.startswith(folder + "/") for path in dashboard_in_container):
            problems.append(f"grafana: provider path {folder} does not hold the mounted dashboard {dashboard_in_container}")
    home = environment_of(services[GRAFANA]).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home and home not in dashboard_in_container:
        problems.append(f"grafana: home dashboard {home} is not the mounted startup.json")
    problems.extend(dashboard_problems(stack.dashboard, uids))
    return problems


def dashboard_variables(dashboard: Mapping[str, Any]) -> Set[str]:
    return {var.get("name") for var in (dashboard.get("templating") or {}).get("list", [])}


def dashboard_problems(dashboard: Mapping[str, Any], uids: Mapping[str, str]) -> List[str]:
    problems: List[str] = []
    if "dashboard" in dashboard:
        problems.append("dashboard: must be raw dashboard JSON, not wrapped in {\"dashboard\": ...}")
        return problems
    for key in ("uid", "title", "panels"):
        if not dashboard.get(key):
            problems.append(f"dashboard: missing {key}")
    for path, node in walk(dashboard):
        if path and path[-1] == "datasource" and isinstance(node, dict):
            uid, kind = node.get("uid"), node.get("type")
            if uid not in uids:
                problems.append(f"dashboard: {'.'.join(path)} uses datasource uid {uid!r}, which no datasource has")
            elif kind and uids[uid] != kind:
                problems.append(f"dashboard: {'.'.join(path)} says type {kind} but uid {uid} is a {uids[uid]}")
    variables = dashboard_variables(dashboard)
    for path, node in walk(dashboard):
        if isinstance(node, str):
            for name in re.findall(r"\$\{?([A-Za-z_]\w*)", node):
                if not name.startswith("__") and name not in variables:
                    problems.append(f"dashboard: {'.'.join(path)} uses ${name}, which is not a variable")
    panels = dashboard.get("panels") or []
    trace_panels = [panel for panel in panels if panel.get("type") == "traces"]
    if not any(target.get("query") == "$traceId" for panel in trace_panels for target in panel.get("targets", [])):
        problems.append("dashboard: no traces panel shows the chosen trace ($traceId)")
    table_queries = [
        target for panel in panels if panel.get("type") == "table" for target in panel.get("targets", [])
        if target.get("queryType") == "traceql"
    ]
    if not table_queries:
        problems.append("dashboard: no table panel lists traces through TraceQL")
    opener = "/d/%s" % dashboard.get("uid")
    links = [node for path, node in walk(dashboard) if path and path[-1] == "url" and isinstance(node, str)]
    if not any(link.startswith(opener) and "var-traceId=${__value.raw}" in link for link in links):
        problems.append("dashboard: no link opens a listed trace's waterfall (var-traceId=${__value.raw} on this dashboard)")
    return problems


# --------------------------------------------------------------------------- TraceQL

_TOKEN = re.compile(
    r"""
    (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<intrinsic>\b(?:event|span|trace|resource|link|instrumentation):[A-Za-z]+)
  | (?P<scoped>\b(?:resource|span|event|link|instrumentation|parent)\.[A-Za-z_][\w.]*[\w])
  | (?P<unscoped>(?<![\w.])\.[A-Za-z_][\w.]*)
  | (?P<number>\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h)?\b)
  | (?P<op>=~|!~|!=|>=|<=|&&|\|\||[=<>{}()|,!])
  | (?P<word>\$?[A-Za-z_]\w*)
  | (?P<space>\s+)
  | (?P<other>.)
    """,
    re.X,
)
_COMPARISON = {"=", "!=", "=~", "!~", ">", ">=", "<", "<="}


def tokenize(query: str) -> List[Tuple[str, str]]:
    return [(m.lastgroup or "", m.group()) for m in _TOKEN.finditer(query) if m.lastgroup != "space"]


def selectors(tokens: List[Tuple[str, str]]) -> List[List[Tuple[str, str]]]:
    """The tokens inside each ``{ ... }`` spanset filter."""
    result, current, depth = [], [], 0
    for kind, text in tokens:
        if kind == "op" and text == "{":
            depth += 1
            current = []
            continue
        if kind == "op" and text == "}":
            depth -= 1
            result.append(current)
            continue
        if depth:
            current.append((kind, text))
    return result


def traceql_problems(query: str, variables: Set[str], environments: Set[str]) -> List[str]:
    problems: List[str] = []
    tokens = tokenize(query)
    modules = demo_modules()
    known_names = modules | demo_imported_names()
    for kind, text in tokens:
        if kind == "scoped":
            scope, attribute = text.split(".", 1)
            if scope in ("span", "event") and attribute not in ATTRIBUTES:
                hint = " (the event's name is the intrinsic event:name)" if attribute == "name" else ""
                problems.append(f"{text}: not an attribute the package emits{hint}")
            elif scope == "resource" and attribute not in RESOURCE_ATTRIBUTES:
                problems.append(f"{text}: unexpected resource attribute")
            elif scope not in ("span", "event", "resource"):
                problems.append(f"{text}: the package puts nothing in scope {scope}")
        elif kind == "unscoped":
            problems.append(f"{text}: unscoped attribute; write span.{text[1:]} or event.{text[1:]}")
        elif kind == "intrinsic" and text not in INTRINSICS:
            problems.append(f"{text}: unknown intrinsic")
        elif kind == "other":
            problems.append(f"unexpected character {text!r}")

    for selector in selectors(tokens):
        event_names: Set[str] = set()
        event_attributes: Set[str] = set()
        has_or = any(kind == "op" and text == "||" for kind, text in selector)
        for index in range(len(selector) - 2):
            (field_kind, field), (op_kind, op), (value_kind, value) = selector[index:index + 3]
            if field_kind not in ("intrinsic", "scoped") or op_kind != "op" or op not in _COMPARISON:
                continue
            literal = value[1:-1] if value_kind == "string" else value
            if value_kind == "word" and value.startswith("$"):
                if value[1:] not in variables:
                    problems.append(f"{field} {op} {value}: no such dashboard variable")
                continue
            if value_kind == "string" and literal.startswith("$"):
                if literal[1:] not in variables:
                    problems.append(f"{field} {op} {value}: no such dashboard variable")
                continue
            if field == "event:name":
                if op in ("=", "!="):
                    if literal not in EVENT_NAMES:
                        problems.append(f'event:name {op} "{literal}": the package emits {sorted(EVENT_NAMES)}')
                    elif op == "=":
                        event_names.add(literal)
                elif not any(re.fullmatch(literal, name) for name in EVENT_NAMES):
                    problems.append(f'event:name {op} "{literal}" matches no event the package emits')
            elif field == "span:name":
                if op in ("=", "!="):
                    if literal not in EXACT_SPAN_NAMES and not (
                        literal.startswith(semconv.SPAN_IMPORT_PREFIX) and literal[len(semconv.SPAN_IMPORT_PREFIX):] in modules
                    ):
                        problems.append(f'span:name {op} "{literal}" is not a span the package emits')
                elif not (literal.startswith(semconv.SPAN_IMPORT_PREFIX) or literal in EXACT_SPAN_NAMES):
                    problems.append(f'span:name {op} "{literal}" must start with "{semconv.SPAN_IMPORT_PREFIX}"')
            elif field_kind == "scoped":
                scope, attribute = field.split(".", 1)
                if scope == "event":
                    event_attributes.add(attribute)
                if attribute in (semconv.ATTR_MODULE_NAME, semconv.ATTR_MODULE_PARENT) and op == "=":
                    if literal not in known_names:
                        problems.append(f'{field} = "{literal}": no such module in the demo')
                if attribute == semconv.ATTR_FILE_PATH and not literal.startswith(DEFAULT_ROOT):
                    problems.append(f'{field} {op} "{literal}": files are under {DEFAULT_ROOT}')
                if attribute in BOOL_ATTRIBUTES and value not in ("true", "false"):
                    problems.append(f"{field} {op} {value}: a boolean, compare with true or false")
                if attribute in FLOAT_ATTRIBUTES and not re.fullmatch(r"\d+\.\d+", value):
                    problems.append(
                        f"{field} {op} {value}: a float attribute; an integer literal never matches it "
                        "(grafana/tempo#4332), write e.g. 50.0"
                    )
                if field == "resource.deployment.environment.name" and literal not in environments:
                    problems.append(f'{field} = "{literal}": no env file sets that environment')
        if not has_or:
            if len(event_names) > 1:
                problems.append(
                    f"{sorted(event_names)} ANDed in one selector can never match: "
                    "ANDed event conditions hold on the same event"
                )
            for attribute in event_attributes:
                owner = ONLY_ON_EVENT.get(attribute)
                if owner and event_names and owner not in event_names:
                    problems.append(f"event.{attribute} is only on {owner} events, never on {sorted(event_names)}")
    return problems


def traceql_blocks(markdown: str) -> List[str]:
    return [block.strip() for block in re.findall(r"^```traceql[ \t]*\n(.*?)^```", markdown, re.M | re.S)]


def dashboard_queries(dashboard: Mapping[str, Any]) -> List[str]:
    queries = []
    for panel in dashboard.get("panels") or []:
        for target in panel.get("targets") or []:
            query = str(target.get("query", ""))
            if target.get("queryType") == "traceql" and query.strip().startswith("{"):
                queries.append(query)
    return queries


def environments_of(stack: Stack) -> Set[str]:
    names = set()
    for values in stack.env_files.values():
        for pair in values.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
            key, _, value = pair.partition("=")
            if key.strip() == "deployment.environment.name":
                names.add(value.strip())
    return names


def all_traceql(stack: Stack) -> List[Tuple[str, str, Set[str]]]:
    """(where, query, variables) for every TraceQL query the users are shown."""
    found = [(name, query, set()) for name, text in stack.readmes.items() for query in traceql_blocks(text)]
    variables = dashboard_variables(stack.dashboard)
    found += [("startup.json", query, variables) for query in dashboard_queries(stack.dashboard)]
    return found


def traceql_all_problems(stack: Stack) -> List[str]:
    problems = []
    environments = environments_of(stack)
    for where, query, variables in all_traceql(stack):
        problems += [f"{where}: {query}: {problem}" for problem in traceql_problems(query, variables, environments)]
    return problems


# The users' questions, each as a test of one query.
def _answers_staging(query: str) -> bool:
    return 'resource.deployment.environment.name = "staging"' in query and (
        f'event:name = "{semconv.EVENT_MODULE_LOADED}"' in query
        or f'span:name =~ "{semconv.SPAN_IMPORT_PREFIX}' in query
    )


def _answers_given_module(query: str) -> bool:
    return (
        f'event:name = "{semconv.EVENT_MODULE_LOADED}"' in query
        and f'event.{semconv.ATTR_MODULE_NAME} = "' in query
        and f'span:name = "{semconv.SPAN_STARTUP}"' in query
    )


def _answers_longest(query: str) -> bool:
    return (f'span:name =~ "{semconv.SPAN_IMPORT_PREFIX}' in query and "span:duration >" in query) or (
        f"event.{semconv.ATTR_IMPORT_DURATION_MS} >" in query
    )


def _answers_slowest_dependency(query: str) -> bool:
    return f"span.{semconv.ATTR_MODULE_DEPENDENCY} = true" in query and "span:duration >" in query


def _answers_failed(query: str) -> bool:
    return f'event:name = "{semconv.EVENT_IMPORT_FAILED}"' in query


def _answers_lazy(query: str) -> bool:
    return f"event.{semconv.ATTR_LAZY} = true" in query


QUESTIONS: Dict[str, Callable[[str], bool]] = {
    "which modules loaded in staging": _answers_staging,
    "which startup loaded a given module": _answers_given_module,
    "which module took longest": _answers_longest,
    "which dependency made startup slow": _answers_slowest_dependency,
    "which imports failed": _answers_failed,
    "which loads were lazy": _answers_lazy,
}


def readme_problems(stack: Stack) -> List[str]:
    problems: List[str] = []
    readme = stack.readmes[STACK_DOC_NAME]
    for heading in ("Run the stack", "See it in Jaeger", "Query it in Tempo", "Staging toggle"):
        if not re.search(rf"^##\s+{re.escape(heading)}\s*$", readme, re.M):
            problems.append(f"{STACK_DOC_NAME}: missing section ## {heading}")
    for name, text in stack.readmes.items():
        queries = traceql_blocks(text)
        if not queries:
            continue
        for question, answers in QUESTIONS.items():
            if not any(answers(query) for query in queries):
                problems.append(f"{name}: no TraceQL answers {question!r}")
    for needle, why in (
        ("event:name", "the colon intrinsic"),
        ("same event", "ANDed event conditions"),
        ("30 s", "Tempo 3.x search cutoff"),
        ("2048", "attribute truncation"),
    ):
        if needle not in readme:
            problems.append(f"{STACK_DOC_NAME}: does not explain {why} ({needle!r})")
    # Run the stack names every published port as the compose file publishes it.
    run = section(readme, "Run the stack")
    for service, ports in PUBLISHED.items():
        for port in ports:
            if f"localhost:{port}" not in run:
                problems.append(f"{STACK_DOC_NAME}: Run the stack does not show {service} on localhost:{port}")
    # The staging toggle section shows the env files as they are.
    toggle = section(readme, "Staging toggle")
    for env, values in stack.env_files.items():
        for key, value in values.items():
            if f"{key}={value}" not in toggle:
                problems.append(f"{STACK_DOC_NAME}: Staging toggle does not show {env}.env's {key}={value}")
    return problems


def section(markdown: str, heading: str) -> str:
    match = re.search(rf"^##\s+{re.escape(heading)}\s*$(.*?)(?=^##\s|\Z)", markdown, re.M | re.S)
    return match.group(1) if match else ""


# --------------------------------------------------------------------------- env files


def env_problems(stack: Stack) -> List[str]:
    problems: List[str] = []
    expected = {"staging": "true", "production": "false"}
    for env, enabled in expected.items():
        values = stack.env_files.get(env)
        if values is None:
            problems.append(f"env: deploy/env/{env}.env is missing")
            continue
        if values.get(ENABLE_IMPORT_TRACING) != enabled:
            problems.append(f"env: {env}.env must set {ENABLE_IMPORT_TRACING}={enabled}")
        if f"deployment.environment.name={env}" not in values.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
            problems.append(f"env: {env}.env must set OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name={env}")
    for env, values in stack.env_files.items():
        for key, value in values.items():
            if value[:1] in ("'", '"'):
                problems.append(f"env: {env}.env {key}: no quotes (docker run --env-file keeps them)")
            if key.startswith("OTEL_") or key.startswith("IMPORT_TRACING_") or key == ENABLE_IMPORT_TRACING:
                continue
            problems.append(f"env: {env}.env sets {key}, which neither the package nor the SDK reads")
    return problems


# --------------------------------------------------------------------------- Dockerfile


def dockerfile_instructions(text: str) -> List[Tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1].rstrip() + " "
            continue
        current += stripped
        logical.append(current)
        current = ""
    if current:
        logical.append(current)
    result = []
    for line in logical:
        instruction, _, arguments = line.partition(" ")
        result.append((instruction.upper(), arguments.strip()))
    return result


def documented_install(readme: str) -> List[str]:
    """``pip install`` commands shown in the Run the stack section's code blocks."""
    commands = []
    for block in re.findall(r"^```(?:sh|bash|shell|console)?[ \t]*\n(.*?)^```", section(readme, "Run the stack"), re.M | re.S):
        for line in block.splitlines():
            line = line.strip().lstrip("$ ").strip()
            if line.startswith("pip install"):
                commands.append(line)
    return commands


def dockerfile_problems(stack: Stack) -> List[str]:
    problems: List[str] = []
    instructions = dockerfile_instructions(stack.dockerfile)
    froms = [args for instruction, args in instructions if instruction == "FROM"]
    for args in froms:
        image = args.split()[0]
        repo, tag = split_image(image)
        if tag is None or tag == "latest" or not re.search(r"\d", tag):
            problems.append(f"Dockerfile: FROM {image} is not pinned to a version")
    if not froms or split_image(froms[-1].split()[0])[0] != "python" or not split_image(froms[-1].split()[0])[1].startswith("3.12"):
        problems.append("Dockerfile: the demo image is FROM python:3.12-slim")

    installs = [args for instruction, args in instructions if instruction == "RUN" and "pip install" in args]
    if len(installs) != 1:
        problems.append(f"Dockerfile: expected exactly one pip install step, found {len(installs)}")
    else:
        install = installs[0]
        extras = re.search(r"\[([\w,\s-]+)\]", install)
        if not extras or not {"otlp", "demo"} <= {extra.strip() for extra in extras.group(1).split(",")}:
            problems.append(f"Dockerfile: {install!r} must install the otlp and demo extras")
        for name, text in stack.readmes.items():
            if not section(text, "Run the stack"):
                continue
            documented = documented_install(text)
            if install not in documented:
                problems.append(f"Dockerfile: install step {install!r} is not the one {name} documents ({documented})")

    cmds = [args for instruction, args in instructions if instruction == "CMD"]
    if not cmds:
        problems.append("Dockerfile: no CMD")
    else:
        cmd = cmds[-1]
        try:
            argv = json.loads(cmd)
        except ValueError:
            argv = None
        if not isinstance(argv, list):
            problems.append(f"Dockerfile: CMD {cmd} is shell form; sh would be PID 1 and not forward SIGTERM")
        else:
            expected = ["otel-import-tracer", "run", "src.main:app"]
            if argv[:3] != expected:
                problems.append(f"Dockerfile: CMD must run the launcher: {expected} ..., got {argv}")
            options = dict(zip(argv[3::2], argv[4::2]))
            if options.get("--host") != "0.0.0.0" or options.get("--port") != "8000":
                problems.append("Dockerfile: CMD must serve on --host 0.0.0.0 --port 8000")
            if "--reload" in argv:
                problems.append("Dockerfile: no --reload in a container")
            for name, text in stack.readmes.items():
                if section(text, "Run the stack") and f"CMD {json.dumps(argv)}" not in text:
                    problems.append(f"Dockerfile: {name} does not show the CMD as it is ({json.dumps(argv)})")
    for instruction, args in instructions:
        if instruction == "ENTRYPOINT" and not args.startswith("["):
            problems.append("Dockerfile: shell-form ENTRYPOINT")
    copies = [args.split() for instruction, args in instructions if instruction == "COPY"]
    if not any(parts[-2:] == ["deploy/demo/src", "/app/src"] for parts in copies):
        problems.append("Dockerfile: must COPY deploy/demo/src /app/src")
    workdirs = [args for instruction, args in instructions if instruction == "WORKDIR"]
    if not workdirs or workdirs[-1] != "/app":
        problems.append("Dockerfile: the final WORKDIR must be /app (uvicorn imports src from there)")
    if re.search(r"^\s*ENV\s+[^\n]*\bENABLE_IMPORT_TRACING\b", stack.dockerfile, re.M):
        problems.append("Dockerfile: leave ENABLE_IMPORT_TRACING to the environment (env files)")

    # The .dockerignore keeps what `pip install .` needs.
    patterns = [line.strip() for line in stack.dockerignore.splitlines() if line.strip() and not line.startswith("#")]
    needed = ["pyproject.toml", "README.md", "otel_import_tracer/__init__.py", "otel_import_tracer/version.py",
              "deploy/demo/src/main.py"]
    for path in needed:
        if any(ignores(pattern, path) for pattern in patterns if not pattern.startswith("!")):
            problems.append(f".dockerignore: excludes {path}, which the image build needs")
    if ".git" not in patterns:
        problems.append(".dockerignore: should exclude .git")
    return problems


def ignores(pattern: str, path: str) -> bool:
    """Enough of .dockerignore matching: a pattern matches the path or one of its folders."""
    import fnmatch

    pattern = pattern.strip("/")
    parts = path.split("/")
    prefixes = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    if pattern.startswith("**/"):
        return any(fnmatch.fnmatch(part, pattern[3:]) for part in parts) or any(
            fnmatch.fnmatch(prefix, pattern[3:]) for prefix in prefixes
        )
    return any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes)


ALL_CHECKS: Dict[str, Callable[[Stack], List[str]]] = {
    "compose": compose_problems,
    "collector": collector_problems,
    "tempo": tempo_problems,
    "grafana": grafana_problems,
    "traceql": traceql_all_problems,
    "readme": readme_problems,
    "env": env_problems,
    "dockerfile": dockerfile_problems,
}


def stack_problems(stack: Stack) -> List[str]:
    problems: List[str] = []
    for check in ALL_CHECKS.values():
        problems.extend(check(stack))
    return problems


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("name", sorted(ALL_CHECKS))
def test_the_stack_is_consistent(stack: Stack, name: str) -> None:
    assert ALL_CHECKS[name](stack) == []


def test_the_pins_are_the_verified_versions(stack: Stack) -> None:
    images = {name: service.get("image") for name, service in stack.compose["services"].items()}
    assert images == {
        COLLECTOR: "otel/opentelemetry-collector-contrib:0.159.0",
        JAEGER: "jaegertracing/jaeger:2.20.0",
        TEMPO: "grafana/tempo:3.0.3",
        GRAFANA: "grafana/grafana:13.1.3",
        DEMO: None,
    }


def test_every_traceql_query_is_checked(stack: Stack) -> None:
    """The name checks above see the stack page's and dashboard queries (not an empty list)."""
    where = {origin for origin, _, _ in all_traceql(stack)}
    assert {STACK_DOC_NAME, "startup.json"} <= where
    assert len(traceql_blocks(stack.readmes[STACK_DOC_NAME])) >= 5
    assert len(dashboard_queries(stack.dashboard)) >= 4


def test_traceql_names_come_from_the_package(stack: Stack) -> None:
    """Every event/span/attribute name in the queries is one the package defines."""
    used_events, used_attributes = set(), set()
    for _, query, _ in all_traceql(stack):
        for kind, text in tokenize(query):
            if kind == "scoped" and text.split(".", 1)[0] in ("span", "event"):
                used_attributes.add(text.split(".", 1)[1])
        used_events.update(re.findall(r'event:name\s*=\s*"([^"]+)"', query))
    assert used_events == EVENT_NAMES
    assert used_attributes <= ATTRIBUTES
    assert {semconv.ATTR_MODULE_NAME, semconv.ATTR_LAZY, semconv.ATTR_IMPORT_DURATION_MS} <= used_attributes


def _mutate(stack: Stack, change: Callable[[Stack], None]) -> Stack:
    broken = stack.copy()
    change(broken)
    return broken


def _set(path: str, value: Any) -> Callable[[Stack], None]:
    """A change that sets ``attribute.key.key...`` (list indexes as numbers) to value."""

    def change(stack: Stack) -> None:
        head, *keys = path.split(".")
        if not keys:
            setattr(stack, head, value)
            return
        node: Any = getattr(stack, head)
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        last = keys[-1]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return change


def _readme_replace(old: str, new: str) -> Callable[[Stack], None]:
    def change(stack: Stack) -> None:
        assert old in stack.readmes[STACK_DOC_NAME], old
        stack.readmes[STACK_DOC_NAME] = stack.readmes[STACK_DOC_NAME].replace(old, new)

    return change


def _dockerfile_replace(old: str, new: str) -> Callable[[Stack], None]:
    def change(stack: Stack) -> None:
        assert old in stack.dockerfile, old
        stack.dockerfile = stack.dockerfile.replace(old, new)

    return change


def _dashboard_query(panel: int, query: str) -> Callable[[Stack], None]:
    def change(stack: Stack) -> None:
        stack.dashboard["panels"][panel]["targets"][0]["query"] = query

    return change


def _tempo_add(key: str, value: Any) -> Callable[[Stack], None]:
    def change(stack: Stack) -> None:
        stack.tempo[key] = value

    return change


def _publish(service: str, port: str) -> Callable[[Stack], None]:
    def change(stack: Stack) -> None:
        stack.compose["services"][service].setdefault("ports", []).append(port)

    return change


def _demo_env(key: str, value: str) -> Callable[[Stack], None]:
    def change(stack: Stack) -> None:
        stack.compose["services"][DEMO]["environment"][key] = value

    return change


BROKEN: List[Tuple[str, Callable[[Stack], None], str]] = [
    ("collector receiver on localhost", _set("collector.receivers.otlp.protocols.grpc.endpoint", "localhost:4317"), "must bind 0.0.0.0"),
    ("collector receiver with no endpoint", _set("collector.receivers.otlp.protocols.http", {}), "defaults to localhost"),
    ("health check on localhost", _set("collector.extensions.health_check.endpoint", "localhost:13133"), "must bind 0.0.0.0"),
    ("tempo receiver on 127.0.0.1", _set("tempo.distributor.receivers.otlp.protocols.grpc.endpoint", "127.0.0.1:4317"), "must bind 0.0.0.0"),
    ("a latest tag", _set("compose.services.grafana.image", "grafana/grafana:latest"), "not pinned"),
    ("no tag at all", _set("compose.services.jaeger.image", "jaegertracing/jaeger"), "not pinned"),
    ("a floating minor tag", _set("compose.services.tempo.image", "grafana/tempo:3.0"), "full x.y.z"),
    ("jaeger without the v1 search API", _set("compose.services.jaeger.image", "jaegertracing/jaeger:2.21.0"), "below 2.21"),
    ("a 2.x key under a 3.x pin", _tempo_add("ingester", {"max_block_duration": "5m"}), "not valid in Tempo 3.x"),
    ("compactor under a 3.x pin", _tempo_add("compactor", {}), "not valid in Tempo 3.x"),
    ("a 3.x-only key under a 2.x pin", _set("compose.services.tempo.image", "grafana/tempo:2.10.8"), "not valid in Tempo 2.x"),
    ("an unknown tempo key", _tempo_add("ingestor", {}), "unknown top-level key"),
    ("exporter to a missing service", _set("collector.exporters.otlp_grpc/tempo.endpoint", "tempo-distributor:4317"), "not a compose service"),
    ("exporter to the wrong port", _set("collector.exporters.otlp_grpc/jaeger.endpoint", "jaeger:14250"), "receives gRPC OTLP on 4317"),
    ("the removed logging exporter", _set("collector.exporters.logging", {"verbosity": "basic"}), "removed in v0.111.0"),
    ("deprecated otlp exporter name", _set("collector.exporters.otlp/tempo", {"endpoint": "tempo:4317", "tls": {"insecure": True}}), "deprecated alias"),
    ("pipeline using an undefined exporter", _set("collector.service.pipelines.traces.exporters", ["otlp_grpc/tempo", "otlp_grpc/jaeger", "debug", "otlp_grpc/zipkin"]), "undefined exporter"),
    ("4317 published by jaeger", _publish(JAEGER, "4317:4317"), "only the collector may"),
    ("4318 published by tempo", _publish(TEMPO, "4318:4318"), "only the collector may"),
    ("a host port published twice", _publish(GRAFANA, "8000:3000"), "published by"),
    ("grafana not on 3000", _set("compose.services.grafana.ports", ["3001:3000"]), "must publish 3000:3000"),
    ("depends on a missing service", _set("compose.services.demo.depends_on", {"collector": {"condition": "service_started"}}), "unknown service"),
    ("healthcheck in a shell-less image", _set("compose.services.tempo.healthcheck", {"test": ["CMD-SHELL", "wget -q http://localhost:3200/ready"]}), "no shell"),
    ("tracing toggle overridden in compose", _demo_env("ENABLE_IMPORT_TRACING", "true"), "overrides the env file toggle"),
    ("demo exporting to itself", _demo_env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4317"), "not to the collector"),
    ("demo grpc to the http port", _demo_env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector:4318"), "not to the collector"),
    ("staging with tracing off", _set("env_files.staging.ENABLE_IMPORT_TRACING", "false"), "ENABLE_IMPORT_TRACING=true"),
    ("quoted env value", _set("env_files.production.ENABLE_IMPORT_TRACING", '"false"'), "no quotes"),
    ("dashboard uid no datasource has", _set("dashboard.panels.0.datasource", {"type": "tempo", "uid": "tempo-prod"}), "which no datasource has"),
    ("dashboard type/uid mismatch", _set("dashboard.panels.0.datasource", {"type": "jaeger", "uid": "tempo"}), "says type jaeger"),
    ("wrapped dashboard JSON", _set("dashboard", {"dashboard": {"uid": "x"}}), "raw dashboard JSON"),
    ("datasource uid renamed", _set("datasources.datasources.0.uid", "tempo-main"), "which no datasource has"),
    ("datasource to a missing host", _set("datasources.datasources.1.url", "http://jaeger-query:16686"), "not a compose service"),
    ("unescaped $ in provisioning", _set("datasources_text", "url: http://$TEMPO_HOST:3200\n"), "unescaped $"),
    ("undefined dashboard variable", _dashboard_query(0, '{ resource.deployment.environment.name = "$env" && event:name = "module.loaded" }'), "not a variable"),
    ("event.name instead of event:name", _dashboard_query(3, '{ event.name = "module.import_failed" }'), "intrinsic event:name"),
    ("a drifted event name", _dashboard_query(3, '{ event:name = "module.failed" }'), "the package emits"),
    ("a drifted attribute", _readme_replace("event.python.module.lazy = true", "event.python.module.is_lazy = true"), "not an attribute the package emits"),
    ("an unscoped attribute", _readme_replace('event:name = "module.import_failed" }', 'event:name = "module.import_failed" && .exception.type = "X" }'), "unscoped"),
    ("a drifted span name", _readme_replace('span:name =~ "import .*" && span:duration', 'span:name =~ "imports .*" && span:duration'), "must start with"),
    ("two event names ANDed", _readme_replace('{ event:name = "module.import_failed" }', '{ event:name = "module.import_failed" && event:name = "module.loaded" }'), "can never match"),
    ("lazy on a failure event", _readme_replace('{ event:name = "module.loaded" && event.python.module.lazy = true }', '{ event:name = "module.import_failed" && event.python.module.lazy = true }'), "only on module.loaded"),
    ("integer threshold on a float", _readme_replace("import_duration_ms > 50.0", "import_duration_ms > 50"), "float attribute"),
    ("a module the demo does not have", _readme_replace('"src.models.domain" }', '"src.models.domian" }'), "no such module"),
    ("an environment no env file sets", _readme_replace('environment.name = "staging" && span:name = "app.startup"', 'environment.name = "stage" && span:name = "app.startup"'), "no env file"),
    ("a question left unanswered", _readme_replace("event.python.module.lazy = true", "span:kind = server"), "which loads were lazy"),
    ("a port the README does not show", _readme_replace("http://localhost:3200 |", "http://localhost:3201 |"), "localhost:3200"),
    ("a missing README section", _readme_replace("## Staging toggle", "## Environments"), "missing section"),
    ("shell-form CMD", _dockerfile_replace('CMD ["otel-import-tracer", "run", "src.main:app", "--host", "0.0.0.0", "--port", "8000"]', "CMD otel-import-tracer run src.main:app --host 0.0.0.0 --port 8000"), "shell form"),
    ("CMD without the launcher", _dockerfile_replace('CMD ["otel-import-tracer", "run",', 'CMD ["uvicorn",'), "must run the launcher"),
    ("install step not the documented one", _dockerfile_replace('pip install ".[otlp,demo]"', 'pip install --no-deps ".[otlp,demo]"'), "is not the one"),
    ("install without the otlp extra", _dockerfile_replace('pip install ".[otlp,demo]"', 'pip install ".[demo]"'), "otlp and demo extras"),
    ("latest base image", _dockerfile_replace("FROM python:3.12-slim", "FROM python:latest"), "not pinned"),
    ("app not at /app/src", _dockerfile_replace("COPY deploy/demo/src /app/src", "COPY deploy/demo/src /srv/src"), "/app/src"),
    ("dockerignore drops the package", lambda s: setattr(s, "dockerignore", s.dockerignore + "\notel_import_tracer\n"), "excludes otel_import_tracer"),
]


@pytest.mark.parametrize("change,expected", [(c, e) for _, c, e in BROKEN], ids=[name for name, _, _ in BROKEN])
def test_a_broken_stack_is_caught(stack: Stack, change: Callable[[Stack], None], expected: str) -> None:
    problems = stack_problems(_mutate(stack, change))
    assert any(expected in problem for problem in problems), problems


# --------------------------------------------------------------------------- external validators


def test_compose_file_passes_docker_compose_config() -> None:
    """Debian's docker-compose (or any docker-compose on PATH) validates without a daemon."""
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose to run this check)")
    for deploy_env in ("staging", "production"):
        result = subprocess.run(
            [tool, "-f", str(COMPOSE_FILE), "config", "-q"],
            cwd=str(REPO),
            env={"PATH": "/usr/bin:/bin:/usr/local/bin", "DEPLOY_ENV": deploy_env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr + result.stdout


def _docker_compose_plugin() -> Optional[str]:
    docker = shutil.which("docker")
    if docker is None:
        return None
    try:
        result = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return docker if result.returncode == 0 else None


def test_compose_file_passes_docker_compose_v2_config() -> None:
    docker = _docker_compose_plugin()
    if docker is None:
        pytest.skip("the docker compose v2 plugin is not installed")
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=str(REPO), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr + result.stdout


def compose_spec_schema() -> Optional[Dict[str, Any]]:
    """The compose-spec JSON schema, vendored by check-jsonschema (a test dependency)."""
    try:
        from importlib import resources

        text = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text(
            encoding="utf-8"
        )
    except (ImportError, FileNotFoundError, ModuleNotFoundError, AttributeError):
        return None
    return json.loads(text)


def compose_schema_errors(document: Mapping[str, Any], schema: Mapping[str, Any]) -> List[str]:
    import jsonschema

    # The compose spec is draft-07; naming it keeps older jsonschema (Python 3.9) from guessing.
    validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)(schema)
    return [f"{'/'.join(map(str, error.path))}: {error.message}" for error in validator.iter_errors(document)]


def test_compose_file_matches_the_compose_spec_schema(stack: Stack) -> None:
    schema = compose_spec_schema()
    if schema is None:
        pytest.skip("compose-spec schema not available offline (pip install check-jsonschema)")
    assert compose_schema_errors(stack.compose, schema) == []
    broken = stack.copy().compose
    broken["services"][DEMO]["prots"] = ["8000:8000"]
    broken["services"][TEMPO]["command"] = {"target": "all"}
    assert len(compose_schema_errors(broken, schema)) >= 2
