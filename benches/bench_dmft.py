"""Benchmark: the Rust DMFT solver against a vectorised numpy implementation of the same
single-pass algorithm, measured in the same run.

Workload of the DMFT issue: two clusters, logistic, alpha=2, Delta=0.5, lambda=0.1,
lr=0.2, b=0.3 (plain SGD).
  (a) T=100, S=10000, exact response on all samples: Rust vs numpy.
  (b) T=200, S=20000: Rust time, and the tangent stage's GFLOP/s against the machine's
      matrix-multiply peak (numpy's own float64 matmul, measured here).
  (c) time and peak memory as T and S grow.

The numpy version follows the Rust algorithm step by step (incremental Cholesky, causal
sampling, backward tangent sweep, kernel rows), vectorised over samples; it draws its own
random numbers, so the two agree within Monte Carlo error, which is printed.

Run:  python benches/bench_dmft.py [--quick]
"""

from __future__ import annotations

import argparse
import math
import os

import numpy as np

import dmft_sgd as ds
from _fresh import profile_line, solve_in_fresh_process
from _machine import measure, timed
from dmft_sgd import _core
from dmft_sgd.dmft import DEFAULTS

CFG = ds.Config(clusters=2, loss="logistic", alpha=2.0, delta=0.5, lam=0.1, lr=0.2, batch=0.3)


def numpy_dmft(cfg: ds.Config, S: int, seed: int = 0, tangent: str = "backward") -> dict[str, np.ndarray]:
    """The single-pass DMFT of theory.md section 3 in numpy (two clusters, linear output).

    tangent="backward": the row G(k, .) by the backward recursion the Rust code uses;
    tangent="forward": theory.md's forward recursion, keeping every sample's G (S T^2/2).
    """
    rng = np.random.default_rng(seed)
    T, dt, lam, alpha = cfg.steps, cfg.lr, cfg.lam, cfg.alpha
    sd = math.sqrt(cfg.delta)
    tau = cfg.effective_tau
    p_on, p_off = dt / tau, dt * (1 - cfg.batch) / (cfg.batch * tau)
    c = np.where(rng.random(S) < 0.5, -1.0, 1.0)
    y, u = c, c + sd * rng.standard_normal(S)
    s = rng.random(S) < cfg.batch
    C, R, L = np.zeros((T, T)), np.zeros((T, T)), np.zeros((T, T))
    MC, MR, mu, m = np.zeros((T, T)), np.zeros((T, T)), np.zeros(T), np.zeros(T)
    xi, F, Phi = np.zeros((T, S)), np.zeros((T, S)), np.zeros((T, S))
    loss = np.zeros(T)
    G = np.zeros((S, T, T)) if tangent == "forward" else None
    C[0, 0], m[0] = cfg.q0, cfg.effective_m0
    for k in range(T):
        # Cholesky row k (zero pivots skipped).
        for j in range(k):
            L[k, j] = (C[k, j] - L[k, :j] @ L[j, :j]) / L[j, j] if L[j, j] > 0 else 0.0
        piv = C[k, k] - L[k, :k] @ L[k, :k]
        L[k, k] = math.sqrt(piv) if piv > 1e-12 * C[k, k] else 0.0
        # Samples.
        if k > 0:
            v = rng.random(S)
            s = np.where(s, v >= p_off, v < p_on)
        xi[k] = rng.standard_normal(S)
        chi = L[k, : k + 1] @ xi[: k + 1]
        g = chi + sd * dt * (R[k, :k] @ F[:k])
        h = u * m[k] + sd * g
        z = y * h
        loss[k] = np.logaddexp(0, -z).mean()
        sig = 1 / (1 + np.exp(z))
        F[k] = s * y * sig
        Phi[k] = -sd * s * sig * (1 - sig)
        if tangent == "backward":
            # Tangent row k: G(k,l) = c phi(l) sum_{l<j<=k} G(k,j) R(j,l), only for the
            # samples with phi(k) != 0 (the others contribute nothing to M_R(k, .)).
            active = np.flatnonzero(Phi[k])
            phi_active = Phi[: k + 1, active]
            X = np.zeros((k + 1, active.size))
            X[k] = 1.0
            for l in range(k - 1, -1, -1):
                X[l] = sd * dt * phi_active[l] * (R[l + 1 : k + 1, l] @ X[l + 1 : k + 1])
            X_phi_k = X @ phi_active[k]
        else:
            # G(k,l) = [k==l] + c sum_{l<=j<k} R(k,j) phi(j) G(j,l), all samples at once.
            weights = R[k, :k][None, :] * Phi[:k].T  # (S, k)
            G[:, k, :k] = sd * dt * np.einsum("sj,sjl->sl", weights, G[:, :k, :k])
            G[:, k, k] = 1.0
            X_phi_k = G[:, k, : k + 1].T @ Phi[k]
        MC[k, : k + 1] = alpha * cfg.delta * (F[: k + 1] @ F[k]) / S
        MC[: k + 1, k] = MC[k, : k + 1]
        MR[k, : k + 1] = alpha * sd * X_phi_k / S
        mu[k] = (u * F[k]).mean()
        if k + 1 == T:
            break
        # Weight side, row k+1.
        a = dt * MR[k, : k + 1].copy()
        a[k] += 1 - dt * lam
        for l in range(k):
            R[k + 1, l] = a[l + 1 : k + 1] @ R[l + 1 : k + 1, l]
        R[k + 1, k] = 1.0
        e = np.array([dt * (R[l, :l] @ MC[k, :l]) for l in range(k + 1)])
        row = a @ C[: k + 1, : k + 1] + dt * e
        C[k + 1, : k + 1] = row
        C[: k + 1, k + 1] = row
        C[k + 1, k + 1] = a @ row + dt * (a @ e) + dt * dt * MC[k, k]
        m[k + 1] = (1 - dt * lam) * m[k] + dt * alpha * mu[k]
    return {"m": m, "q": np.diag(C).copy(), "train_loss": loss}


def peak_memory_mib(steps: int, samples: int) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one solve in a fresh interpreter."""
    config = f"alpha=2.0, delta=0.5, lam=0.1, lr=0.2, batch=0.3, steps={steps}"
    return solve_in_fresh_process(config, f"samples={samples}, seed=0")


def profile(cfg: ds.Config, S: int, response: str = "auto") -> str:
    """The shares of a solve's CPU time by stage (the core's timers), largest first."""
    options = {**DEFAULTS, "samples": S, "groups": None, "threads": None, "response": response}
    return profile_line(_core.solve_dmft(cfg.to_dict(), **options).stage_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    _, peak, machine = measure(os.cpu_count())
    print(machine + "\n")

    T, S = (50, 4000) if args.quick else (100, 10_000)
    cfg = CFG.replace(steps=T)
    rust_t, rust = timed(lambda: ds.solve_dmft(cfg, samples=S, seed=0), 3)
    numpy_t, ref = timed(lambda: numpy_dmft(cfg, S, seed=1))
    forward_t, fwd = timed(lambda: numpy_dmft(cfg, S, seed=1, tangent="forward"))
    print(f"(a) T={T}, S={S}: rust {rust_t:.3f} s")
    print(f"    numpy, backward tangent on the samples in the batch (Rust's algorithm): {numpy_t:.2f} s "
          f"-> rust is {numpy_t / rust_t:.0f}x faster")
    print(f"    numpy, forward tangent of every sample (theory.md as written): {forward_t:.2f} s "
          f"-> rust is {forward_t / rust_t:.0f}x faster")
    for name in ("m", "q", "train_loss"):
        print(f"    {name}(T-1): rust {getattr(rust, name)[-1]:.4f}, numpy {ref[name][-1]:.4f} / {fwd[name][-1]:.4f}")
    print(f"    where the time goes (CPU seconds of each stage): {profile(cfg, S)}")

    T, S = (100, 8000) if args.quick else (200, 20_000)
    cfg = CFG.replace(steps=T)
    full_t, _ = timed(lambda: ds.solve_dmft(cfg, samples=S, seed=0, response="tangent"), 3)
    light_t, _ = timed(lambda: ds.solve_dmft(cfg, samples=S, seed=0, response="tangent", response_samples=16), 3)
    # sum_k k^2/2 multiply-adds (2 flops) per sample in the batch at step k: a fraction b.
    tangent_flops = cfg.batch * S * T**3 / 3
    rate = tangent_flops / (full_t - light_t)
    print(f"(b) T={T}, S={S}: {full_t:.2f} s; tangent stage {full_t - light_t:.2f} s at "
          f"{rate / 1e9:.1f} GFLOP/s = {rate / peak:.0%} of the matmul peak")
    print(f"    where the time goes (CPU seconds of each stage): {profile(cfg, S, 'tangent')}")

    print("(c) time [s] / peak memory [MiB] of one solve:")
    grid_T = (50, 100) if args.quick else (50, 100, 200)
    grid_S = (2000, 4000) if args.quick else (5000, 10_000, 20_000)
    print("    T \\ S " + "".join(f"{s:>16}" for s in grid_S))
    for t in grid_T:
        cells = [peak_memory_mib(t, s) for s in grid_S]
        print(f"    {t:>5}  " + "".join(f"{sec:>8.2f} / {mib:>5.0f}" for sec, mib in cells))


if __name__ == "__main__":
    main()
