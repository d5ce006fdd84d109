"""Timing helper shared by the benchmark scripts (run as ``python tests/bench/NAME.py``,
which puts this folder on ``sys.path``)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_ms(fn: Callable[[], object], repeats: int, *, settle: float = 0.0) -> float:
    """Median wall time in ms over ``repeats`` runs after one warm-up run.

    ``settle`` seconds of sleep first let another library's worker threads go idle.
    """
    if settle:
        time.sleep(settle)
    fn()  # warm-up: FFT plans, thread pools, page faults
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)
