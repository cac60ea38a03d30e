"""Benchmark: long horizons. Time and peak memory of `solve_dmft` against T for the exact
tangent and for the probe estimator (`response="probe"`, band 16: what the default
`"auto"` uses once the tangent's work b S T^3 / 6 exceeds 1.5e11, here from T = 532),
where the time goes, and how far the probe solve is from the machine's limit.

Workload of the long-horizons issue: two clusters, logistic, alpha=2, Delta=0.5,
lambda=0.1, lr=0.05, b=0.3 (plain SGD), default options (8 groups up to T = 4000).

Each solve runs in a fresh interpreter, so its peak resident memory (VmHWM) is its own.
The core times each stage of the single pass (CPU seconds over both threads,
`_core.DmftSolution.stage_seconds`); the weight side's share of that time (the weight
side and the Cholesky factor, `O(G T^3)`) splits the wall time into the weight side and
the samples' side. The floor of a solve is the larger of
  - the bandwidth floor: the bytes it must read over the machine's measured read
    bandwidth, 15 bytes per sample and past step for the samples' histories (xi per pair
    2, f twice 8, phi*v 4, the probe sign 1: 15 S T^2 / 2 in all) plus, per group, the
    packed lower triangles of R, C and the Cholesky factor once per step (4 G T^3);
  - the FMA floor: its multiply-adds (4.5 per sample and past step on the samples' side,
    2.5 k^2 per step and group on the weight side) at numpy's measured float64 matmul
    peak.

Run:  python benches/bench_long.py [--steps 1000 4000] [--samples 20000]
      python benches/bench_long.py --quick    (T = 50, 100 and S = 2000: a smoke test, seconds)
"""

from __future__ import annotations

import argparse
import os

import dmft_sgd as ds
from _fresh import profile_in_fresh_process, profile_line
from _machine import measure
from dmft_sgd.dmft import default_groups

# Bytes of history each probe-estimator sample reads per past step and step: xi per pair
# (4/2), f twice (memory term and M_C row), phi*v (4), the probe sign (1).
PROBE_BYTES = 2 + 4 + 4 + 4 + 1
# Multiply-adds per sample and past step: chi (1/2 per sample), the memory terms of f and
# phi*v, the M_C row and the probe's history term.
PROBE_FMAS = 0.5 + 1 + 1 + 1 + 1
WORKLOAD = dict(alpha=2.0, delta=0.5, lam=0.1, lr=0.05, batch=0.3)


def floors(T: int, S: int, groups: int, bandwidth: float, peak: float) -> tuple[float, float]:
    """(bandwidth floor, FMA floor) in seconds of a probe solve (module docstring)."""
    history_bytes = PROBE_BYTES * S * T * T / 2
    weight_bytes = 4.0 * groups * T**3
    fmas = PROBE_FMAS * S * T * T / 2 + 2.5 * groups * T**3 / 3
    return (history_bytes + weight_bytes) / bandwidth, 2 * fmas / peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, nargs="+", default=[100, 1000, 4000])
    ap.add_argument("--samples", type=int, default=20_000)
    ap.add_argument("--tangent-max", type=int, default=800, help="largest T for the exact tangent")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke test in seconds: T = 50, 100, S = 2000 (overrides --steps, --samples)")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.samples = [50, 100], 2000
    bandwidth, peak, machine = measure()
    print(f"{machine}; S = {args.samples}, {os.cpu_count()} threads\n")
    print("| T | tangent: time / peak | probe: time / peak | weight side | samples' side | "
          "floor: bandwidth / FMA | probe time / floor | probe: where the time goes |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    S = args.samples
    for T in args.steps:
        cfg = ds.Config(**WORKLOAD, steps=T)
        config = ", ".join(f"{name}={value!r}" for name, value in {**WORKLOAD, "steps": T}.items())
        solve = f"samples={S}, seed=0, keep_kernels=False"
        tangent = profile_in_fresh_process(config, solve + ", response='tangent'") if T <= args.tangent_max else None
        seconds, mib, stages = profile_in_fresh_process(config, solve + ", response='probe'")
        weight_share = (stages["weight_side"] + stages["cholesky"]) / max(sum(stages.values()), 1e-12)
        groups = default_groups(cfg, S, None, None)
        bandwidth_floor, fma_floor = floors(T, S, groups, bandwidth, peak)
        cell = "—" if tangent is None else f"{tangent[0]:.2f} s / {tangent[1]:.0f} MiB"
        print(f"| {T} | {cell} | {seconds:.2f} s / {mib:.0f} MiB | {weight_share * seconds:.2f} s | "
              f"{(1 - weight_share) * seconds:.2f} s | {bandwidth_floor:.2f} s / {fma_floor:.2f} s | "
              f"{seconds / max(bandwidth_floor, fma_floor):.2f} | {profile_line(stages)} |", flush=True)


if __name__ == "__main__":
    main()
