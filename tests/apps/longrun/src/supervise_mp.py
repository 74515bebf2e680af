"""``python -m src.supervise_mp``: imports its own code, then forks two multiprocessing children
(the ``fork`` start method), each importing its work; prints how long the first start took."""

import multiprocessing
import sys
import time

from src import settings  # noqa: F401 (the supervisor's startup)


def child() -> None:
    from src import work  # noqa: F401 (the child's own import)


if __name__ == "__main__":
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=child) for _ in range(2)]
    begun = time.perf_counter()
    children[0].start()
    print(f"first start took {time.perf_counter() - begun:.3f} s", flush=True)
    children[1].start()
    for process in children:
        process.join()
    sys.exit(max(process.exitcode for process in children))
