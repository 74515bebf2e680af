"""``python -m src.grpc_server PORT``: a gRPC server (no protobuf: a generic bytes handler),
started as a code server is, serving until killed."""

import sys

import grpc

from src import settings  # noqa: F401 (the startup's own import)


def ping(request: bytes, context: object) -> bytes:
    from src import handlers  # a request's lazy import

    return handlers.answer(request)


def serve(port: int) -> None:
    server = grpc.server(__import__("concurrent.futures").futures.ThreadPoolExecutor(max_workers=2))
    handler = grpc.method_handlers_generic_handler(
        "longrun.Ping", {"Ping": grpc.unary_unary_rpc_method_handler(ping)})
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print("serving", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
