"""Bias and noise of the probe estimator of M_R against the exact tangent.

For each setting, solves the DMFT with both estimators on the same seeds (the samples'
random numbers are the same; only the probes differ) and reports
  * z-scores of M_R entries: the mean over seeds of (probe - tangent) over its standard
    error, at a few off-band lags of the last row (should look N(0, 1)),
  * the relative noise of one off-band entry (sd over seeds of the difference / entry),
  * for every observable, the largest |probe - tangent| over time in units of the
    combined standard error of the two solves (should stay below ~3).

    python benches/response_study.py [--steps 300] [--samples 8000] [--seeds 8]
    python benches/response_study.py --quick   (T = 60, S = 1000, 3 seeds: a smoke test)
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import dmft_sgd as ds

SETTINGS = {
    "GD (b=1)": dict(lr=0.1, lam=0.1),
    "plain SGD b=0.3": dict(lr=0.1, batch=0.3, lam=0.1),
    "persistent SGD tau=2": dict(lr=0.05, batch=0.3, tau=2.0, lam=0.05),
    "three clusters, door": dict(clusters=3, rho=0.6, lr=0.1, batch=0.5, lam=0.02, m0=0.5, q0=0.5),
    "zero ridge SGD": dict(lr=0.1, batch=0.3, lam=0.0),
    "square, linear, persistent": dict(loss="square", lr=0.05, batch=0.3, tau=1.0, lam=0.1),
}


def study(name, changes, steps, samples, seeds, band):
    cfg = ds.Config(alpha=2.0, delta=0.5, steps=steps, **changes)
    runs = {"tangent": [], "probe": []}
    times = {"tangent": 0.0, "probe": 0.0}
    for seed in range(seeds):
        for resp in runs:
            t0 = time.perf_counter()
            runs[resp].append(ds.solve_dmft(cfg, samples=samples, seed=seed, response=resp, band=band))
            times[resp] += time.perf_counter() - t0
    k = steps - 1
    lags = [band, 2 * band, steps // 4, steps // 2, steps - 1]
    diff = np.array([[p.M_R[k, k - g] - t.M_R[k, k - g] for g in lags]
                     for p, t in zip(runs["probe"], runs["tangent"])])
    exact = np.mean([[t.M_R[k, k - g] for g in lags] for t in runs["tangent"]], axis=0)
    z = diff.mean(0) / (diff.std(0, ddof=1) / np.sqrt(seeds))
    noise = diff.std(0, ddof=1) / np.maximum(np.abs(exact), 1e-300)
    worst = {}
    for obs in ds.OBSERVABLES:
        gaps = []
        for p, t in zip(runs["probe"], runs["tangent"]):
            se = np.sqrt(p.sem(obs) ** 2 + t.sem(obs) ** 2)
            ok = se > 0
            gaps.append(np.max(np.abs(p.mean(obs) - t.mean(obs))[ok] / se[ok]))
        worst[obs] = max(gaps)
    print(f"\n## {name}  (T={steps}, S={samples}, {seeds} seeds, band={band}; "
          f"time tangent {times['tangent'] / seeds:.2f} s, probe {times['probe'] / seeds:.2f} s per solve)")
    print("lag k-l:        " + "  ".join(f"{g:>9d}" for g in lags))
    print("M_R exact:      " + "  ".join(f"{v:9.2e}" for v in exact))
    print("z (probe-tan):  " + "  ".join(f"{v:9.2f}" for v in z))
    print("rel. noise/run: " + "  ".join(f"{v:9.2f}" for v in noise))
    print("max |diff|/se:  " + "  ".join(f"{o}={v:.2f}" for o, v in worst.items()))
    return z, worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--samples", type=int, default=8000)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--band", type=int, default=16)
    ap.add_argument("--only", default=None, help="substring of a setting name")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke test in seconds: T = 60, S = 1000, 3 seeds (overrides those options)")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.samples, args.seeds = 60, 1000, 3
    zs = []
    for name, changes in SETTINGS.items():
        if args.only and args.only not in name:
            continue
        z, _ = study(name, changes, args.steps, args.samples, args.seeds, args.band)
        zs.extend(z)
    zs = np.array(zs)
    print(f"\nall z-scores: mean {zs.mean():.2f}, sd {zs.std():.2f}, max |z| {np.abs(zs).max():.2f} (n={zs.size})")


if __name__ == "__main__":
    main()
