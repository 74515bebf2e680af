"""``python -m src.marked SECONDS``: imports the wiring, imports a little more, then serves."""

import sys

from src import wiring
from src import work  # noqa: F401 (imported after src.wiring finished importing)

if __name__ == "__main__":
    wiring.serve(float(sys.argv[1]))
