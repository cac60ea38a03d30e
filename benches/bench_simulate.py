"""Benchmark: the Rust ensemble `simulate` against a plain numpy implementation of the same
computation (data generation + SGD recursion + observables), measured in the same run.

Workload of the foundation issue: two clusters, logistic, alpha=2, Delta=0.5, lambda=0.1,
lr=0.2, b=0.3 (plain SGD), 200 steps, at
  (A) d=200 with 256 replicas and (B) d=2000 with 8 replicas.
Numpy is given two forms: a loop over replicas and steps (the straightforward code), and,
for (A), one vectorised over replicas with batched matrix products (numpy's best case).
For (B) the achieved memory bandwidth of the Rust step (the data are read once per step)
is compared with the machine's read bandwidth measured in the same run.

Run:  python benches/bench_simulate.py            (full, ~1-2 minutes)
      python benches/bench_simulate.py --quick    (smaller, for a smoke test)
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np

import dmft_sgd as ds
from _machine import measure

CFG = ds.Config(clusters=2, loss="logistic", alpha=2.0, delta=0.5, lam=0.1, lr=0.2, batch=0.3, steps=200)


def phi(x):
    return 0.5 * np.vectorize(math.erfc)(-np.asarray(x) / math.sqrt(2))


# The observables the numpy versions record, one row each, in this order (the test loss
# of the mixture has no closed form here, so it is not among them).
NUMPY_ROWS = ("m", "q", "train_loss", "train_error", "test_error")
ROW = {name: i for i, name in enumerate(NUMPY_ROWS)}


def numpy_replica(cfg: ds.Config, d: int, rng: np.random.Generator) -> np.ndarray:
    """One replica, straightforwardly: draw the data, loop over steps. Rows: NUMPY_ROWS."""
    n = round(cfg.alpha * d)
    v = rng.standard_normal(d)
    v *= math.sqrt(d) / np.linalg.norm(v)
    c = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    X = np.outer(c, v) / math.sqrt(d) + math.sqrt(cfg.delta) * rng.standard_normal((n, d))
    y = c
    w = cfg.effective_m0 * v + math.sqrt(cfg.q0) * rng.standard_normal(d)
    p_on, p_off = cfg.lr / cfg.effective_tau, cfg.lr * (1 - cfg.batch) / (cfg.batch * cfg.effective_tau)
    s = rng.random(n) < cfg.batch
    out = np.empty((len(NUMPY_ROWS), cfg.steps))
    for k in range(cfg.steps):
        m = w @ v / d
        q = w @ w / d - m * m
        h = X @ w / math.sqrt(d)
        z = y * h
        out[ROW["m"], k], out[ROW["q"], k] = m, q
        out[ROW["train_loss"], k] = np.logaddexp(0, -z).mean()
        out[ROW["train_error"], k] = np.mean(z <= 0)
        slope = -y / (1 + np.exp(z))
        w = (1 - cfg.lr * cfg.lam) * w - cfg.lr * (slope * s) @ X / math.sqrt(d)
        u = rng.random(n)
        s = np.where(s, u >= p_off, u < p_on)
    m, q = out[ROW["m"]], out[ROW["q"]]
    out[ROW["test_error"]] = phi(-m / np.sqrt(cfg.delta * (m**2 + q)))
    return out


def numpy_loop(cfg, d, replicas, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([numpy_replica(cfg, d, rng) for _ in range(replicas)])


def numpy_batched(cfg, d, replicas, seed=0):
    """All replicas at once: (R, n, d) data, batched matrix-vector products. Rows: NUMPY_ROWS."""
    rng = np.random.default_rng(seed)
    n, R = round(cfg.alpha * d), replicas
    v = rng.standard_normal((R, d))
    v *= math.sqrt(d) / np.linalg.norm(v, axis=1, keepdims=True)
    c = np.where(rng.random((R, n)) < 0.5, -1.0, 1.0)
    X = c[:, :, None] * v[:, None, :] / math.sqrt(d) + math.sqrt(cfg.delta) * rng.standard_normal((R, n, d))
    y = c
    w = cfg.effective_m0 * v + math.sqrt(cfg.q0) * rng.standard_normal((R, d))
    p_on, p_off = cfg.lr / cfg.effective_tau, cfg.lr * (1 - cfg.batch) / (cfg.batch * cfg.effective_tau)
    s = rng.random((R, n)) < cfg.batch
    out = np.empty((R, len(NUMPY_ROWS), cfg.steps))
    for k in range(cfg.steps):
        m = np.einsum("rd,rd->r", w, v) / d
        q = np.einsum("rd,rd->r", w, w) / d - m * m
        h = np.matmul(X, w[:, :, None])[:, :, 0] / math.sqrt(d)
        z = y * h
        out[:, ROW["m"], k], out[:, ROW["q"], k] = m, q
        out[:, ROW["train_loss"], k] = np.logaddexp(0, -z).mean(axis=1)
        out[:, ROW["train_error"], k] = np.mean(z <= 0, axis=1)
        g = (-y / (1 + np.exp(z))) * s
        w = (1 - cfg.lr * cfg.lam) * w - cfg.lr * np.matmul(g[:, None, :], X)[:, 0, :] / math.sqrt(d)
        u = rng.random((R, n))
        s = np.where(s, u >= p_off, u < p_on)
    m, q = out[:, ROW["m"]], out[:, ROW["q"]]
    out[:, ROW["test_error"]] = phi(-m / np.sqrt(cfg.delta * (m**2 + q)))
    return out


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def check_agreement(rust: ds.SimulationResult, numpy_out: np.ndarray) -> str:
    """Different random numbers, same physics: final ensemble means within a few sem, for
    each observable numpy records (row i of `numpy_out` is NUMPY_ROWS[i])."""
    assert numpy_out.shape[1] == len(NUMPY_ROWS), numpy_out.shape
    rows = []
    for i, name in enumerate(NUMPY_ROWS):
        a, b = rust.mean(name)[-1], numpy_out[:, i, -1].mean()
        se = math.hypot(rust.sem(name)[-1], numpy_out[:, i, -1].std(ddof=1) / math.sqrt(len(numpy_out)))
        rows.append(f"{name} {a:.4f}/{b:.4f} ({abs(a - b) / se:.1f} se)")
    return "; ".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    threads = os.cpu_count() or 1
    steps = 50 if args.quick else 200
    cfg = CFG.replace(steps=steps)
    cases = [(200, 64 if args.quick else 256), (2000, 2 if args.quick else 8)]

    bandwidth, peak, machine = measure(threads)
    print(machine)
    print(f"workload: {cfg}\n")
    for d, replicas in cases:
        rust_t, rust = best_of(lambda: ds.simulate(cfg, d=d, replicas=replicas, seed=0, threads=threads), 3)
        loop_t, loop_out = best_of(lambda: numpy_loop(cfg, d, replicas), 1)
        print(f"d={d}, replicas={replicas}, steps={steps}")
        print(f"  rust simulate        {rust_t:8.3f} s")
        print(f"  numpy loop           {loop_t:8.3f} s   rust is {loop_t / rust_t:6.1f}x faster")
        if d <= 500:
            batched_t, _ = best_of(lambda: numpy_batched(cfg, d, replicas), 1)
            print(f"  numpy batched        {batched_t:8.3f} s   rust is {batched_t / rust_t:6.1f}x faster")
        n = round(cfg.alpha * d)
        # Dynamics only: subtract data generation, timed separately with one step.
        gen_t, _ = best_of(lambda: ds.simulate(cfg.replace(steps=1), d=d, replicas=replicas, seed=0, threads=threads), 3)
        step_t = max(rust_t - gen_t, 1e-9)
        # Per step: the field of every sample (n d multiply-adds) and the gradient of the
        # samples in the batch (b n d), 2 flops each.
        flops = replicas * (steps - 1) * n * d * (1 + cfg.batch) * 2
        print(f"  rust data generation {gen_t:8.3f} s; SGD steps {step_t:.3f} s at {flops / step_t / 1e9:.1f} GFLOP/s "
              f"= {flops / step_t / peak:.0%} of the matmul peak (separate multiply and add in a fixed order, "
              f"and a logistic loss and slope per sample: exp, log1p)")
        data_bytes = n * d * 4 * min(threads, replicas)
        if data_bytes > 32 << 20:  # beyond the last-level cache: memory-bound
            achieved = replicas * (steps - 1) * n * d * 4 / step_t
            print(f"  the steps read the float32 data at {achieved / 1e9:.1f} GB/s = "
                  f"{achieved / bandwidth:.0%} of the measured read bandwidth")
        if data_bytes > 32 << 20:
            # The same stream with the square loss: no exp or log1p per sample, which the
            # logistic loss evaluates between rows (they do not overlap the stream).
            square = cfg.replace(loss="square", lr=0.05)
            sq_t, _ = best_of(lambda: ds.simulate(square, d=d, replicas=replicas, seed=0, threads=threads), 2)
            sq_gen, _ = best_of(lambda: ds.simulate(square.replace(steps=1), d=d, replicas=replicas, seed=0,
                                                    threads=threads), 2)
            rate = replicas * (steps - 1) * n * d * 4 / max(sq_t - sq_gen, 1e-9)
            print(f"  with the square loss instead: {rate / 1e9:.1f} GB/s = {rate / bandwidth:.0%} of the bandwidth")
        print(f"  same physics: {check_agreement(rust, loop_out)}\n")


if __name__ == "__main__":
    main()
