"""``python -m src.supervise``: imports its own code, then hands over to two Python children
(``python -m src.child``) and waits for them, as ``dagster dev`` does."""

import subprocess
import sys
import time

from src import settings  # noqa: F401 (the supervisor's startup)

if __name__ == "__main__":
    subprocess.run(["true"], check=True)  # a command, not a child it hands over to
    children = [subprocess.Popen([sys.executable, "-m", "src.child", str(n)]) for n in range(2)]
    time.sleep(0.5)
    sys.exit(max(child.wait() for child in children))
