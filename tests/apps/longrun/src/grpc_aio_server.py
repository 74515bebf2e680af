"""``python -m src.grpc_aio_server PORT``: the same gRPC server on ``grpc.aio``."""

import asyncio
import sys

import grpc

from src import settings  # noqa: F401 (the startup's own import)


async def ping(request: bytes, context: object) -> bytes:
    from src import handlers  # a request's lazy import

    return handlers.answer(request)


async def serve(port: int) -> None:
    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "longrun.Ping", {"Ping": grpc.unary_unary_rpc_method_handler(ping)})
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("serving", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
