"""``python -m src.given_back``: whether the startup-end patches are in place, then given back."""

import multiprocessing.process
import socketserver
import subprocess

import grpc._server

import otel_import_tracer


def originals() -> dict:
    return {
        "socketserver": socketserver.__dict__["_ServerSelector"].__module__ == "selectors",
        "subprocess": subprocess.__dict__["_cleanup"].__module__ == "subprocess",
        "multiprocessing": multiprocessing.process.__dict__["_cleanup"].__module__ == "multiprocessing.process",
        "grpc": getattr(grpc._server._Server.__dict__["start"], "__module__", None) == "grpc._server",
    }


if __name__ == "__main__":
    print("starting", originals(), flush=True)
    otel_import_tracer.mark_startup_complete()
    print("started", originals(), flush=True)
