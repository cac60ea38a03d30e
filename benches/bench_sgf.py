"""Benchmark: what the stochastic gradient flow's coupled ladder costs and what it buys.
Persistent SGD on two clusters (logistic, alpha=2, Delta=0.5, lambda=0.1, b=0.3, tau=1,
S = 20 000, 10 groups, keep_kernels=False) to the horizon t = 10: the ladder lr = 0.1,
0.05, 0.025 in one coupled pass (`_core.solve_dmft_ladder`) against the plain solve at
the finest lr alone, in the same run (best of two each), and the precision of the
second-order limit: its sem over the finest level's sem, and the correlation over groups
between consecutive levels (theory.md section 6.3).

Run:  python benches/bench_sgf.py [--threads 1] [--quick]
"""

from __future__ import annotations

import argparse

import numpy as np

import dmft_sgd as ds
from _machine import measure, timed
from dmft_sgd import _core


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--samples", type=int, default=20_000)
    ap.add_argument("--quick", action="store_true", help="t = 2, S = 2000 (a smoke test)")
    args = ap.parse_args()
    samples, horizon, repeats = (2000, 2.0, 1) if args.quick else (args.samples, 10.0, 2)
    print(measure(args.threads)[2] + f"; S = {samples}, threads = {args.threads or 'all'}\n")
    lrs = [0.1, 0.05, 0.025]
    cfg = ds.Config(alpha=2.0, delta=0.5, lam=0.1, batch=0.3, tau=1.0, lr=lrs[0], steps=round(horizon / lrs[0]) + 1)
    options = dict(samples=samples, groups=10, seed=1, threads=args.threads, response="tangent", band=16,
                   response_samples=None, keep_kernels=False)
    ladder_s, levels = timed(lambda: _core.solve_dmft_ladder(cfg.to_dict(), lrs=lrs, **options), repeats)
    finest = ds.Config.from_dict({**cfg.to_dict(), "lr": lrs[-1], "steps": levels[-1].t.size})
    plain_s, _ = timed(lambda: _core.solve_dmft(finest.to_dict(), method="single", iterations=1, damping=0.0,
                                                    tol=0.0, **options), repeats)
    print(f"ladder ({', '.join(map(str, lrs))}) {ladder_s:.2f} s; finest level alone {plain_s:.2f} s; "
          f"ratio {ladder_s / plain_s:.2f}\n")
    print("| observable at t = %g | limit (order 2) | its sem / finest level's sem | correlation of levels |" % horizon)
    print("| --- | --- | --- | --- |")
    for name in ["m", "q", "train_loss", "test_error"]:
        g = [level.group_observables[name][:, -1] for level in levels]
        limit = (8 * g[2] - 6 * g[1] + g[0]) / 3
        sem = lambda x: x.std(ddof=1) / np.sqrt(x.size)  # noqa: E731
        corr = [np.corrcoef(g[i], g[i + 1])[0, 1] for i in range(2)]
        print(f"| {name} | {limit.mean():.5f} ± {sem(limit):.5f} | {sem(limit) / sem(g[2]):.2f} | "
              f"{corr[0]:.3f}, {corr[1]:.3f} |")


if __name__ == "__main__":
    main()
