"""An ASGI app whose lifespan starts a Python child before it is ready: an ASGI server still, whose
lifespan says when startup ends (not a supervisor handing over)."""

import subprocess
import sys

children = []


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                children.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
                from src import work  # noqa: F401 (still the startup's)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for child in children:
                    child.kill()
                    child.wait()
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
