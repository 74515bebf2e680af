"""How noisy a side of ``diff`` is, and when a difference is a change rather than noise.

A side is a few startups (3 to 10 in CI). Each figure of a side is the median of its startups,
its spread the MAD (median absolute deviation from that median), and its fastest run is kept
too. A figure changed when every run of the slower side is slower than the faster side's typical
run by more than that side's noise:

    head slower:  fastest_head - median_base > max(FLOOR_MS, K * MAD_base)
    head faster:  fastest_base - median_head > max(FLOOR_MS, K * MAD_head)

Why: load only ever adds time. On a machine whose cores are all busy, a run is now and then
held up (descheduled for a time slice, a garbage collection, the GIL) for tens of milliseconds,
and whichever module's own code was running pays for it. Measured with two CPU-bound jobs beside
30-module builds, 5 runs a side: one module's self time (0.7 ms) was +25 to +61 ms in 6 of 15
runs, 4 of 5 on one side, so its median moved by 32 ms with a MAD of 8; a rule on medians and
MADs (|delta median| > 3 x (MAD_base + MAD_head)) failed a same-build diff in 2 of 17 tries and,
the slow side's MAD inflated the same way, missed a 50 ms regression in 1. A stall cannot make a
run faster: the fastest run of a side moves only when all its runs were held up, while a real
regression (code that takes longer) moves every run, the fastest one too. The faster side is
the reference, its median the typical run, its MAD (0.67 sigma for normal noise; K = 3: about 2
sigma) how far its runs stray, so noise alone would need all runs of the other side beyond it:
for normal noise 0.02^5, and for stalls hitting a module in 40 % of runs 0.4^5 = 1 %.
The floor covers what the MAD cannot see: with one startup a side it is 0, and a small
module's runs timed to the microsecond may agree exactly. The change shown is the difference of
the medians.
"""

from __future__ import annotations

import statistics
from typing import Optional, Sequence, Tuple

K = 3.0  # how many times the faster side's spread (MAD) the slower side's fastest run must exceed
FLOOR_MS = 1.0  # and at least this: below it, no figure's change is one

Summary = Tuple[Optional[float], float, Optional[float]]  # median, MAD, fastest


def summary(values: Optional[Sequence[float]]) -> Summary:
    """``(median, MAD, fastest)`` of ``values``; ``(None, 0.0, None)`` for none."""
    if not values:
        return None, 0.0, None
    middle = statistics.median(values)
    return middle, statistics.median(abs(value - middle) for value in values), min(values)


def threshold_ms(spread: float, floor_ms: float = FLOOR_MS) -> float:
    """How far beyond the reference side's typical run (median) a change must be, given its MAD."""
    return max(floor_ms, K * spread)


def beyond(base: Summary, head: Summary, floor_ms: float = FLOOR_MS) -> bool:
    """Whether the figure changed from ``base`` to ``head`` (each a side's ``summary``), not by noise."""
    (base_median, base_spread, base_fastest), (head_median, head_spread, head_fastest) = base, head
    if None in (base_median, base_fastest, head_median, head_fastest):
        return False
    return (head_fastest - base_median > threshold_ms(base_spread, floor_ms)  # type: ignore[operator]
            or base_fastest - head_median > threshold_ms(head_spread, floor_ms))  # type: ignore[operator]


def noise_ms(base: Summary, head: Summary, floor_ms: float = FLOOR_MS) -> float:
    """The threshold that applies: the faster side's (that of the side with the smaller median)."""
    faster = base if (base[0] or 0.0) <= (head[0] or 0.0) else head
    return threshold_ms(faster[1], floor_ms)
