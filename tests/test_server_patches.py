"""The server patches in-process, on a copy of uvicorn's real ``LifespanOn``: whatever the
tracer's part raises, the application's lifespan and the server go on untouched."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import types
from typing import Any, AsyncIterator, List

import pytest
from fastapi import FastAPI
from uvicorn import Config
from uvicorn.lifespan.on import LifespanOn

from otel_import_tracer import tracing
from otel_import_tracer.process import servers

pytestmark = pytest.mark.collector_independent


def _patched_lifespan_class() -> type:
    """A subclass of the real class, patched through the real entry point (the original stays as it is)."""
    # From the unpatched methods: tracing started in-process by another test patches the real class.
    originals = {name: inspect.unwrap(getattr(LifespanOn, name)) for name in ("main", "send", "startup", "shutdown")}
    copy = type("LifespanOn", (LifespanOn,), originals)
    module = types.ModuleType("uvicorn.lifespan.on")
    module.LifespanOn = copy  # type: ignore[attr-defined]
    servers.patch(module)
    return copy


def _run_lifespan(steps: List[str]) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        steps.append("app started")
        yield
        steps.append("app stopped")

    config = Config(FastAPI(lifespan=lifespan), lifespan="on", ws="none", log_level="critical")
    config.load()
    lifespan_class = _patched_lifespan_class()

    async def serve() -> Any:
        server_side = lifespan_class(config)  # in the loop: on 3.9 its asyncio.Events bind to one
        await server_side.startup()
        steps.append("serving")
        await server_side.shutdown()
        return server_side

    # A patch that raises before uvicorn's own code runs leaves startup() waiting forever.
    return asyncio.run(asyncio.wait_for(serve(), timeout=10))


def test_the_patches_tell_the_tracer_each_moment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    steps: List[str] = []
    monkeypatch.setattr(tracing, "startup_context", lambda: steps.append("tracer: begins"))
    monkeypatch.setattr(tracing, "mark_startup_complete", lambda failure=None: steps.append("tracer: ready"))
    monkeypatch.setattr(tracing, "stop_tracing", lambda: steps.append("tracer: stops"))
    server_side = _run_lifespan(steps)
    assert not server_side.should_exit
    # Startup ends on the application's word; the server's own end of startup adds nothing.
    assert steps == ["tracer: begins", "app started", "tracer: ready", "tracer: ready", "serving", "tracer: stops", "app stopped"]


def test_a_tracer_that_raises_never_reaches_the_server(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("tracer bug")

    for name in ("startup_context", "mark_startup_complete", "stop_tracing"):
        monkeypatch.setattr(tracing, name, broken)
    steps: List[str] = []
    server_side = _run_lifespan(steps)
    assert steps == ["app started", "serving", "app stopped"]
    assert not server_side.should_exit and not server_side.startup_failed and not server_side.shutdown_failed
    err = capsys.readouterr().err
    assert err.count("tracer bug") == 1 and "the application is unaffected" in err  # one message, not one per step
