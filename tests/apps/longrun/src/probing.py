"""``python -m src.probing``: imports src.probe (a child and a server of its own while importing),
then more of the app, then serves from the main thread... not: it is a script that ends."""

import subprocess
import sys
import threading
import time

from src import probe  # noqa: F401

# Not on the main thread: a child started from a thread of its own hands nothing over either.
threading.Thread(target=subprocess.run, args=([sys.executable, "-c", "pass"],)).start()
time.sleep(0.2)

from src import work  # noqa: E402,F401 (still startup: nothing above ended it)
