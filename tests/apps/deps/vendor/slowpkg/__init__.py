"""A package whose import takes 250 ms, installed as the distribution slow-package 1.2.3."""

import time

from slowpkg import core

time.sleep(0.25)  # far above midpkg's 10 ms even on a loaded machine (76 ms seen)
NAME = core.NAME
