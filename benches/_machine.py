"""The machine a benchmark runs on, printed at its top: cores, measured read bandwidth and
numpy's float64 matrix-multiply peak. Every timing in benches/ is bound by one of the two
(memory-bound passes, or matmul-like work), so numbers from two machines compare through
them. Run alone (``python benches/_machine.py``, a few seconds) to measure a machine."""

from __future__ import annotations

import math
import os
import time
from typing import Callable, TypeVar

import numpy as np

from dmft_sgd import _core

T = TypeVar("T")


def timed(fn: Callable[[], T], repeats: int = 1) -> tuple[float, T]:
    """(best wall time in seconds of `repeats` calls of `fn`, the last call's result)."""
    best, out = math.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out  # type: ignore[return-value]


def matmul_peak(n: int = 2000, repeats: int = 3) -> float:
    """numpy's float64 matmul rate in FLOP/s (2 n^3 per product, best of `repeats`)."""
    a, b = np.random.default_rng(0).standard_normal((2, n, n))
    a @ b  # warm up the BLAS threads
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def measure(threads: int | None = None) -> tuple[float, float, str]:
    """(read bandwidth in B/s, matmul peak in FLOP/s, the line that states both)."""
    threads = threads or os.cpu_count() or 1
    bandwidth = _core.measure_bandwidth(1 << 30, threads=threads)
    peak = matmul_peak()
    line = (f"machine: {threads} thread(s), measured read bandwidth {bandwidth / 1e9:.1f} GB/s, "
            f"numpy float64 matmul peak {peak / 1e9:.1f} GFLOP/s")
    return bandwidth, peak, line


if __name__ == "__main__":
    print(measure()[2])
