"""A package whose import takes 50 ms, installed as the distribution slow-package 1.2.3."""

import time

from slowpkg import core

time.sleep(0.05)
NAME = core.NAME
