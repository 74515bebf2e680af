"""Facts about the running interpreter, in one place."""

from __future__ import annotations

import sys
import threading

# PEP 669 (Python 3.12+): per-code-object events that can be switched off after first sight.
HAS_MONITORING = hasattr(sys, "monitoring")

# Python 3.12+: install a trace function in every running thread, not only new ones.
HAS_SETTRACE_ALL_THREADS = hasattr(threading, "settrace_all_threads")
