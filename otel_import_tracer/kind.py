"""What the process was, for the report's header and the ``app.startup`` span: its role, its
command line and its entry (what ran as ``__main__``), so the reading side compares like with like.

Read when a report is written or the startup span goes out, never on the import path: from the
session's facts and from ``sys``, a few attribute reads.

- role: the one the session was given at a moment that says it (``supervisor`` at a hand-over to
  workers, ``server`` where a non-ASGI server starts serving), else ``worker`` for a forked child
  or a multiprocessing child (gunicorn's and ``uvicorn --workers``' workers among them: they serve
  for their supervisor), ``server`` for a process whose ASGI lifespan ran (uvicorn, hypercorn),
  else ``script``.
- command: ``sys.orig_argv`` (3.10+; ``[sys.executable] + sys.argv`` before), at most
  ``MAX_ARGS`` arguments of ``MAX_ARG_CHARS`` characters. A command line can hold secrets: the
  value of an option named like one (``--password``, ``--token``, ``--api-key``, ...) and the
  password of a URL (``scheme://user:password@host``) are replaced by ``REDACTED``; anything
  else passed on the command line is in the report and the trace as given.
- entry: the module run by ``python -m`` (``pkg`` for ``pkg.__main__``), a console script's name
  (``uvicorn``), a script's path (relative to the root when inside it), ``-c``; None otherwise.
"""

from __future__ import annotations

import os
import sys

from otel_import_tracer import semconv

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

MAX_ARGS = 64
MAX_ARG_CHARS = 512
REDACTED = "REDACTED"
_SECRET_WORDS = ("password", "passwd", "secret", "token", "apikey", "api-key", "api_key", "credential", "private-key", "auth")


def role_of(session: Any) -> str:
    """The session's role, or the one its process's facts give (see the module's text)."""
    if session.role:
        return session.role
    if session.inherited or _multiprocessing_child():
        return semconv.ROLE_WORKER
    if getattr(session, "asgi", False):
        return semconv.ROLE_SERVER
    return semconv.ROLE_SCRIPT


def _multiprocessing_child() -> bool:
    process = sys.modules.get("multiprocessing.process")
    return process is not None and getattr(process, "_parent_process", None) is not None


def command() -> List[str]:
    """The process's command line, bounded, secrets redacted."""
    argv = getattr(sys, "orig_argv", None)
    if not argv:  # before 3.10: sys.argv, whose first is the module's file under python -m
        module = _main_module()
        argv = [sys.executable] + (["-m", module] if module else sys.argv[:1]) + list(sys.argv[1:])
    shown: List[str] = []
    secret_next = False
    for argument in list(argv)[:MAX_ARGS]:
        argument = str(argument)
        if secret_next:
            shown.append(REDACTED)
            secret_next = False
            continue
        if argument.startswith("-"):
            name, equals, _ = argument.partition("=")
            if _secret(name):
                if equals:
                    argument = f"{name}={REDACTED}"
                else:
                    secret_next = True
        shown.append(_without_url_password(argument)[:MAX_ARG_CHARS])
    if len(argv) > MAX_ARGS:
        shown.append(f"... ({len(argv) - MAX_ARGS} more)")
    return shown


def _secret(option: str) -> bool:
    name = option.lstrip("-").lower()
    return any(word in name for word in _SECRET_WORDS)


def _without_url_password(argument: str) -> str:
    scheme, found, rest = argument.partition("://")
    if not found:
        return argument
    authority, slash, path = rest.partition("/")
    user, at, host = authority.rpartition("@")
    if not at or ":" not in user:
        return argument
    return f"{scheme}://{user.partition(':')[0]}:{REDACTED}@{host}{slash}{path}"


def entry(root: str) -> Optional[str]:
    """What ran as ``__main__`` (see the module's text)."""
    main = sys.modules.get("__main__")
    if main is None:
        return None
    module = _main_module()
    if module:
        return module
    file = getattr(main, "__file__", None)
    if not isinstance(file, str):
        argv = getattr(sys, "orig_argv", None) or []
        return "-c" if "-c" in argv[1:] else None
    if not file.endswith((".py", ".pyc", ".pyw")):  # a console script's wrapper (bin/uvicorn)
        return os.path.basename(file)
    path = os.path.abspath(file)
    inside = os.path.relpath(path, root)
    return path if inside.startswith(os.pardir) else inside


def _main_module() -> Optional[str]:
    """The module run by ``python -m`` (``pkg`` for ``pkg.__main__``), or None."""
    name = getattr(getattr(sys.modules.get("__main__"), "__spec__", None), "name", None)
    if not isinstance(name, str) or name in ("__main__", "__mp_main__"):
        return None
    return name[: -len(".__main__")] if name.endswith(".__main__") else name


def span_attributes(role: str, root: str) -> Dict[str, Any]:
    """The ``app.startup`` span's attributes for what the process was."""
    attributes: Dict[str, Any] = {semconv.ATTR_PROCESS_ROLE: role, semconv.ATTR_PROCESS_COMMAND_ARGS: command()}
    found = entry(root)
    if found is not None:
        attributes[semconv.ATTR_PROCESS_ENTRY] = found
    return attributes
