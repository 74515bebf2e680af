"""``python -m src.http_server PORT``: http.server (socketserver) serving forever."""

import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from src import settings  # noqa: F401 (the startup's own import)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        from src import handlers  # a request's lazy import

        body = handlers.answer(b"get")
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    with HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler) as server:
        print("serving", flush=True)
        server.serve_forever()
