"""``python -m src.job SECONDS``: imports, then runs for SECONDS (its run, not an import)."""

import sys
import time

from src import settings  # noqa: F401

if __name__ == "__main__":
    time.sleep(float(sys.argv[1]))
