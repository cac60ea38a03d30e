"""Benchmark: the DMFT of two-layer networks against the single unit's, and the scaling
in the hidden units K. The same problem (sign teacher, logistic loss, alpha=2,
lambda=0.05, lr=0.1, b=0.3, erf units) with K = 1 (the single-unit solver), and K = 1, 2,
4 through the network solver (theory.md section 8.2) with the exact tangent (eq. 8.4,
O(b S T^3 K^3 / 3) multiply-adds in plain loops) and with the response by integration by
parts (response="stein", eq. 8.7, O(S T^2 K^2)), in the same run, on all cores; plus the
finite-d network simulation at d = 1000 for scale. Ratios as measured, not assumed.

Run:  python benches/bench_committee.py [--steps 50 100] [--samples 20000] [--quick]
"""

from __future__ import annotations

import argparse

import dmft_sgd as ds
from _machine import measure, timed
from dmft_sgd import _core


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, nargs="+", default=[50, 100, 200])
    ap.add_argument("--samples", type=int, default=20_000)
    ap.add_argument("--quick", action="store_true", help="T = 20, S = 2000 (a smoke test)")
    args = ap.parse_args()
    steps, samples = ([20], 2000) if args.quick else (args.steps, args.samples)
    print(measure()[2] + f"; S = {samples}, 8 groups\n")
    print("| T | single unit (K = 1) | network K = 1, tangent | K = 2, tangent | K = 2, stein | K = 4, stein "
          "| K = 2 stein / single | simulation K = 2, d = 1000, 8 runs |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for T in steps:
        base = dict(data="teacher", teacher="sign", loss="logistic", alpha=2.0, lam=0.05, lr=0.1, batch=0.3,
                    activation="erf", steps=T)
        single, _ = timed(lambda: ds.solve_dmft(ds.Config(**base), samples=samples, seed=0, response="tangent"))
        one_cfg = ds.Config(**base)
        net_one, _ = timed(lambda: _core.solve_network_dmft(one_cfg.to_dict(), samples=samples, groups=8, seed=0))
        two, four = ds.Config(**base, hidden=2), ds.Config(**base, hidden=4)
        # The tangent's T^3 K^3 makes it minutes beyond T = 100: measured up to there.
        tangent = (f"{timed(lambda: ds.solve_dmft(two, samples=samples, seed=0, response='tangent'))[0]:.2f} s"
                   if T <= 100 else "—")
        stein, _ = timed(lambda: ds.solve_dmft(two, samples=samples, seed=0, response="stein"))
        stein4, _ = timed(lambda: ds.solve_dmft(four, samples=samples, seed=0, response="stein"))
        sim, _ = timed(lambda: ds.simulate(two, d=1000, replicas=8, seed=0))
        print(f"| {T} | {single:.2f} s | {net_one:.2f} s | {tangent} | {stein:.2f} s | {stein4:.2f} s | "
              f"{stein / single:.1f} | {sim:.2f} s |", flush=True)

if __name__ == "__main__":
    main()
