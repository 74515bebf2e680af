"""Runs a Python child and starts a metrics server in a thread as it is imported: still startup."""

import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

subprocess.run([sys.executable, "-c", "pass"], check=True)  # a probe, during an import

metrics = HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
threading.Thread(target=metrics.serve_forever, daemon=True).start()  # served from a thread of its own
