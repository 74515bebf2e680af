"""``python -m src.child N``: a child of the supervisor: imports its work, works a little, exits."""

import time

from src import work  # noqa: F401 (the child's startup)

if __name__ == "__main__":
    time.sleep(0.3)
