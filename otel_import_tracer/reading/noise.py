"""How noisy a side of ``diff`` is, and when a difference is a change rather than noise.

A side is a few startups (3 to 10 in CI). Each figure of a side is the median of its startups and
its spread the MAD (median absolute deviation from that median): both ignore a minority of
outliers, the scheduler stall or cold cache that moves one run by tens of milliseconds on a
loaded machine, where a mean and a standard deviation would follow it. A difference of medians
is a change only when it is beyond both sides' spread and beyond a floor:

    |median_head - median_base| > max(FLOOR_MS, K * (MAD_base + MAD_head))

Why these: for normally distributed runs the MAD is 0.67 sigma, so with K = 3 the threshold is
about 4 sigma of one run, where the difference of two medians of 5 runs has a standard error of
about 0.8 sigma: a build compared with itself stays under it on all but a vanishing share of
modules, even with tens of modules compared, and timings are heavier-tailed than normal, which
is why the margin is wide. A regression worth a CI failure (tens of milliseconds in one module)
is far beyond it: a module's own time moves by well under a millisecond between runs. The floor
covers what the MAD cannot see: with one startup a side it is 0, and with few runs timed to the
microsecond most runs of a small module may agree exactly (MAD 0) while a run or two do not.
"""

from __future__ import annotations

import statistics
from typing import Optional, Sequence, Tuple

K = 3.0  # how many times the two sides' spread (MAD) a change must exceed
FLOOR_MS = 1.0  # and at least this: below it, no module's change is one


def median_and_spread(values: Optional[Sequence[float]]) -> Tuple[Optional[float], float]:
    """``(median, MAD)`` of ``values``; ``(None, 0.0)`` for none."""
    if not values:
        return None, 0.0
    middle = statistics.median(values)
    return middle, statistics.median(abs(value - middle) for value in values)


def threshold_ms(base_spread: float, head_spread: float, floor_ms: float = FLOOR_MS) -> float:
    """The smallest difference of medians that is a change, given each side's MAD."""
    return max(floor_ms, K * (base_spread + head_spread))


def beyond(delta: Optional[float], base_spread: float, head_spread: float, floor_ms: float = FLOOR_MS) -> bool:
    """Whether ``delta`` (head minus base medians) is a change, not noise."""
    return delta is not None and abs(delta) > threshold_ms(base_spread, head_spread, floor_ms)
