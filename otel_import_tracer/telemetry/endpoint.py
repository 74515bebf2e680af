"""Whether the OTLP endpoint can be reached at all, known before the exporter's first attempt.

The SDK's OTLP exporters treat every failure to connect as transient: they retry with backoff
for up to ``OTEL_EXPORTER_OTLP_TIMEOUT`` (10 s), logging ``Transient error ...`` each time,
and a process that exits meanwhile waits out the tracer's shutdown timeout with nothing sent.
An endpoint that is not a URL, whose host does not resolve, or whose port refuses the
connection will fail every attempt alike: one look (a name lookup and a TCP connect) tells,
and the user hears it once, with the variable, its value and the error. A collector that
accepts the connection but is slow or answers with an error is left to the SDK's own retries.
"""

from __future__ import annotations

import os
import re
import socket
import urllib.parse
from typing import Mapping, Optional, Tuple

OTEL_EXPORTER_OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
DEFAULT_ENDPOINTS = {"grpc": "http://localhost:4317", "http/protobuf": "http://localhost:4318"}
CONNECT_TIMEOUT = 1.0  # a collector that takes longer to accept is not refusing: the SDK retries
# gRPC targets that are not host:port (grpc/doc/naming.md): left to gRPC itself.
_GRPC_SCHEMES = ("dns", "unix", "unix-abstract", "ipv4", "ipv6", "vsock", "xds", "google-c2p")
_HOST_PORT = re.compile(r"^\[?[A-Za-z0-9_.:-]+\]?:\d+$")


class Endpoint:
    """The endpoint the trace exporter will use, and the variable it came from."""

    def __init__(self, protocol: str, environ: Optional[Mapping[str, str]] = None) -> None:
        env = os.environ if environ is None else environ
        self.protocol = protocol
        for variable in (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT):
            if env.get(variable):
                self.variable: Optional[str] = variable
                self.value = env[variable]
                break
        else:
            self.variable = None
            self.value = DEFAULT_ENDPOINTS.get(protocol, DEFAULT_ENDPOINTS["grpc"])

    def describe(self) -> str:
        if self.variable is None:
            return f"the default OTLP endpoint {self.value} (OTEL_EXPORTER_OTLP_ENDPOINT is not set)"
        return f"{self.variable}={self.value!r}"

    def problem(self) -> Optional[str]:
        """Why no export to this endpoint can succeed, or None if it may (or we cannot tell)."""
        try:
            address = self._address()
        except ValueError as exc:
            return f"it is not a URL ({exc}); use e.g. http://collector:" + DEFAULT_ENDPOINTS.get(self.protocol, "").rsplit(":", 1)[-1]
        if address is None or _behind_proxy(address[0]):
            return None  # a gRPC target of its own kind, or a proxy in between: the SDK's to find out
        host, port = address
        try:
            addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            return f"its host {host!r} does not resolve ({exc.strerror or exc})"
        except (OSError, UnicodeError) as exc:
            return f"its host {host!r} is not a valid host name ({exc})"
        refused: Optional[OSError] = None
        for family, kind, proto, _, sockaddr in addresses:
            try:
                with socket.socket(family, kind, proto) as sock:
                    sock.settimeout(CONNECT_TIMEOUT)
                    sock.connect(sockaddr)
                return None
            except ConnectionRefusedError as exc:
                refused = exc
            except OSError:  # a timeout, an unreachable network: maybe transient; the SDK retries
                return None
        if refused is None:
            return None
        return f"nothing accepts connections at {host}:{port} ({refused.strerror or refused})"

    def _address(self) -> Optional[Tuple[str, int]]:
        """(host, port) as the exporter would connect; None for a gRPC target it resolves itself.

        Raises ValueError when the value is no URL the exporter can use."""
        value = self.value.strip()
        if any(char.isspace() for char in value) or not value:
            raise ValueError("it contains white space" if value else "it is empty")
        parts = urllib.parse.urlsplit(value)
        if parts.scheme in ("http", "https"):
            if not parts.hostname:
                raise ValueError("no host after the scheme")
            port = parts.port  # ValueError if not a number in range
            if port is None:
                # gRPC's own default is 443 whatever the scheme; HTTP's follows the scheme.
                port = 443 if self.protocol == "grpc" or parts.scheme == "https" else 80
            return parts.hostname, port
        if self.protocol == "grpc":
            if parts.scheme in _GRPC_SCHEMES:
                return None
            if _HOST_PORT.match(value):  # host:port, which gRPC takes as it is
                host, _, port = value.rpartition(":")
                return host.strip("[]"), int(port)
        raise ValueError("it needs http:// or https:// and a host")


def _behind_proxy(host: str) -> bool:
    """Whether a proxy from the environment (``https_proxy``, ``grpc_proxy``...) stands between,
    as requests and gRPC read them (``no_proxy`` names hosts or domains reached directly)."""
    variables = {key.lower(): value.strip() for key, value in os.environ.items() if key.lower().endswith("_proxy")}
    if not any(variables.get(kind) for kind in ("http_proxy", "https_proxy", "grpc_proxy", "all_proxy")):
        return False
    for entry in variables.get("no_proxy", "").replace(" ", "").split(","):
        entry = entry.lstrip(".").split(":", 1)[0] if entry.count(":") <= 1 else entry
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return False
    return True
