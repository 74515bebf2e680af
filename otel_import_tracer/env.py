"""Facts about the running interpreter, in one place."""

from __future__ import annotations

import sys
import threading

# PEP 669 (Python 3.12+): per-code-object events that can be switched off after first sight.
HAS_MONITORING = hasattr(sys, "monitoring")

# Python 3.12+: install a trace function in every running thread, not only new ones.
HAS_SETTRACE_ALL_THREADS = hasattr(threading, "settrace_all_threads")

# PEP 810 (Python 3.15+): explicit lazy imports, seen through the one lazy-imports filter slot.
HAS_LAZY_IMPORTS = hasattr(sys, "set_lazy_imports_filter") and hasattr(sys, "lazy_modules")
