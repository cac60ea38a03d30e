"""Benchmark: long horizons. Time and peak memory of `solve_dmft` against T for the exact
tangent and for the probe estimator (`response="probe"`, band 16: what the default
`"auto"` uses once the tangent's work b S T^3 / 6 exceeds 1.5e11, here from T = 532),
and where the time goes.

Workload of the long-horizons issue: two clusters, logistic, alpha=2, Delta=0.5,
lambda=0.1, lr=0.05, b=0.3 (plain SGD), default options (8 groups).

Each solve runs in a fresh interpreter, so its peak resident memory (VmHWM) is its own.
The weight side (8 groups' C, R and Cholesky recursions, O(T^3)) is timed with a tiny
sample count; the rest is the samples' side, whose history passes are memory-bound:
their traffic (bytes of history read per step, summed) over that time, against the
machine's measured read bandwidth, is the fraction of the machine's limit reached.

Run:  python benches/bench_long.py [--steps 200 800 1600 4000] [--samples 20000]
      python benches/bench_long.py --quick    (T = 50, 100 and S = 2000: a smoke test, seconds)
"""

from __future__ import annotations

import argparse

from _fresh import solve_in_fresh_process
from _machine import measure

# Bytes of history each probe-estimator sample reads per past step and step: xi per pair
# (4/2), f twice (memory term and M_C row), phi*v (4), the probe sign (1).
PROBE_BYTES = 2 + 4 + 4 + 4 + 1


def run(steps: int, samples: int, response: str, extra: str = "") -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one solve in a fresh interpreter; `extra` adds
    keyword arguments to `solve_dmft` (default options otherwise)."""
    config = f"alpha=2.0, delta=0.5, lam=0.1, lr=0.05, batch=0.3, steps={steps}"
    return solve_in_fresh_process(config, f"samples={samples}, seed=0, response={response!r}{extra}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, nargs="+", default=[200, 400, 800, 1600])
    ap.add_argument("--samples", type=int, default=20_000)
    ap.add_argument("--tangent-max", type=int, default=800, help="largest T for the exact tangent")
    ap.add_argument("--groups", type=int, default=None, help="groups (default: the solver's, 8)")
    ap.add_argument("--no-kernels", action="store_true", help="keep_kernels=False")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke test in seconds: T = 50, 100, S = 2000 (overrides --steps, --samples)")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.samples = [50, 100], 2000
    bandwidth, _, machine = measure()
    print(f"{machine}; S = {args.samples}\n")
    print("| T | tangent: time / peak | probe: time / peak | probe: weight side | "
          "probe: samples' side | history passes |")
    print("| --- | --- | --- | --- | --- | --- |")
    extra = ("" if args.groups is None else f", groups={args.groups}") + (
        ", keep_kernels=False" if args.no_kernels else "")
    for T in args.steps:
        tangent = run(T, args.samples, "tangent", extra) if T <= args.tangent_max else None
        probe = run(T, args.samples, "probe", extra)
        weights, _ = run(T, 16, "probe", extra)
        sample_side = max(probe[0] - weights, 1e-9)
        traffic = args.samples * T * T / 2 * PROBE_BYTES
        rate = traffic / sample_side
        cell = "—" if tangent is None else f"{tangent[0]:.2f} s / {tangent[1]:.0f} MiB"
        hist = f"{rate / 1e9:.1f} GB/s ({rate / bandwidth:.0%})"
        print(f"| {T} | {cell} | {probe[0]:.2f} s / {probe[1]:.0f} MiB | {weights:.2f} s | "
              f"{sample_side:.2f} s | {hist} |", flush=True)


if __name__ == "__main__":
    main()
