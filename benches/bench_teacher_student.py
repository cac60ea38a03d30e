"""Benchmark: `solve_dmft` on the teacher-student workload of the published discrete-time
DMFT code (square loss, linear teacher, alpha=3, lambda=0.5, lr=0.1, b=1, m0=0.2, q0=1,
T=50, S=20000) against a numpy implementation of that code's method, the damped
fixed-point iteration (30 rounds, damping 0.55, vectorised over samples:
`teacher_student_baseline.py`), in the same run, both on one core. Both are checked
against the exact d -> infinity solution (tests/exact_teacher.py).

The published numba code itself took 78-80 s on one core of the development machine for
this workload (timed by hand; it is not run here).

Run:  python benches/bench_teacher_student.py [--repeats N]
      python benches/bench_teacher_student.py --quick   (S = 2000, one repeat: a smoke test)
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core for the baseline's BLAS, as for the solver

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import dmft_sgd as ds  # noqa: E402
import teacher_student_baseline as baseline  # noqa: E402
from _machine import measure  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from exact_teacher import teacher_gd_exact  # noqa: E402

WORKLOAD = dict(alpha=3.0, lam=0.5, lr=0.1, m0=0.2, q0=1.0, steps=50)
SAMPLES = 20_000
PUBLISHED_CODE_SECONDS = 79.0  # by hand, one core, see the module docstring


def best_of(repeats, run):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test in seconds: S = 2000 samples, one repeat")
    args = parser.parse_args()
    samples, repeats = (2000, 1) if args.quick else (SAMPLES, args.repeats)
    cfg = ds.Config(data="teacher", teacher="linear", loss="square", **WORKLOAD)
    exact = teacher_gd_exact(**WORKLOAD)

    rust_1, result = best_of(repeats, lambda: ds.solve_dmft(cfg, samples=samples, seed=0, threads=1))
    rust_all, _ = best_of(repeats, lambda: ds.solve_dmft(cfg, samples=samples, seed=0))
    numpy_time, base = best_of(1, lambda: baseline.solve(samples=samples, **WORKLOAD))

    print(measure(threads=1)[2] + " (BLAS limited to one thread)")
    print(f"workload {WORKLOAD}, S = {samples}" + (" (--quick)" if args.quick else ""))
    print(f"solve_dmft, 1 thread:        {rust_1 * 1e3:8.1f} ms")
    print(f"solve_dmft, all threads:     {rust_all * 1e3:8.1f} ms")
    print(f"numpy damped iteration (30 rounds, 1 core): {numpy_time:6.2f} s  -> ratio {numpy_time / rust_1:.0f}x")
    print(f"published numba code (by hand, 1 core): {PUBLISHED_CODE_SECONDS:.0f} s  -> ratio "
          f"{PUBLISHED_CODE_SECONDS / rust_1:.0f}x (goal >= 1000x)")
    for name in ("m", "q", "test_loss"):
        z = np.abs(result.mean(name) - exact[name])[1:] / result.sem(name)[1:]
        print(f"{name:10s} final: exact {exact[name][-1]:.5f}  dmft {result.mean(name)[-1]:.5f} "
              f"± {result.sem(name)[-1]:.5f} (max |z| {z.max():.2f})  numpy iteration {base[name][-1]:.5f}")


if __name__ == "__main__":
    main()
