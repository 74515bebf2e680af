"""A module whose import takes 10 ms."""

import time

time.sleep(0.01)
NAME = "midpkg"
