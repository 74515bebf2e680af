"""Imported by the first request, after startup: a lazy import."""


def answer(request: bytes) -> bytes:
    return b"pong:" + request
