"""Benchmark: what momentum costs the DMFT. The default long-horizon workload of
bench_long.py (two clusters, logistic, alpha=2, Delta=0.5, lambda=0.1, lr=0.05, b=0.3,
S = 20 000, default options with keep_kernels=False) solved with and without heavy-ball
momentum (beta = 0.9), each in a fresh process, in the same run. Momentum adds the
velocity's rows to the weight side: O(T) memory and O(k) work per row on top of its
O(k^2) passes (theory.md eqs. 3.7-3.9).

Run:  python benches/bench_momentum.py [--steps 200 400 800 1600] [--quick]
"""

from __future__ import annotations

import argparse

from _fresh import solve_in_fresh_process
from _machine import measure


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, nargs="+", default=[200, 400, 800, 1600])
    ap.add_argument("--samples", type=int, default=20_000)
    ap.add_argument("--quick", action="store_true", help="T = 50, 100 and S = 2000 (a smoke test)")
    args = ap.parse_args()
    steps, samples = ([50, 100], 2000) if args.quick else (args.steps, args.samples)
    print(measure()[2] + f"; S = {samples}\n")
    print("| T | without momentum | heavy ball, beta = 0.9 | ratio |")
    print("| --- | --- | --- | --- |")
    base = "alpha=2.0, delta=0.5, lam=0.1, lr=0.05, batch=0.3"
    solve = f"samples={samples}, seed=0, keep_kernels=False"
    for T in steps:
        plain = solve_in_fresh_process(f"{base}, steps={T}", solve)
        heavy = solve_in_fresh_process(f"{base}, momentum=0.9, steps={T}", solve)
        print(f"| {T} | {plain[0]:.2f} s / {plain[1]:.0f} MiB | {heavy[0]:.2f} s / {heavy[1]:.0f} MiB | "
              f"{heavy[0] / plain[0]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
