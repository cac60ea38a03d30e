"""Baseline for the benchmarks: the damped fixed-point iteration of the discrete-time
DMFT, in plain numpy, for a teacher-student generalised linear model.

Model (d -> infinity at fixed alpha = n/d and dt = lr):

* ``x ~ N(0, I_d)``, teacher ``v*`` with ``|v*|^2 = d``, ``h0 = v*.x/sqrt(d)``,
  label ``y = h0 + sqrt(noise) eps``;
* linear student ``h = w.x/sqrt(d)``, square loss ``l(y, h) = (y - h)^2 / 2``, ridge
  ``lam``, learning rate ``lr`` (the time step ``dt``), batch fraction ``b`` (``b = 1``:
  full-batch GD; ``b < 1``: plain SGD, every sample in the batch with probability ``b``
  at every step, independently);
* ``w_0 = m0 v* + sqrt(q0) z``; ``m = w.v*/d``, ``q = |w|^2/d - m^2``.

This is the process of docs/theory.md section 3 with ``c = 0``, ``Delta = 1``, ``u = h0``
and ``y = y(h0, eps)``. Pattern side (one effective sample per column, all of them
advanced together):

    (3.1)  g(k)   = chi(k) + dt sum_{j<k} R(k,j) f(j)
           h(k)   = h0 m(k) + g(k)
           f(k)   = -s(k) l'(y, h(k))          (s(k)/b instead of s(k) if normalize_batch)
           phi(k) = -s(k) l''(y, h(k))
    (4.2)  G(k,k) = 1,  G(k,l) = dt phi(l) sum_{l<j<=k} G(k,j) R(j,l)     (tangent row)
    (3.3)  M_C(k,l) = alpha E[f(k) f(l)],  M_R(k,l) = alpha E[phi(k) G(k,l)],  mu(k) = E[h0 f(k)]

and weight side (3.4)-(3.6) for ``R``, ``C``, ``m``. The solution method is the one of
theory.md section 4.5 (the published codes' method): start from zero kernels; each
round solves the weight side for all steps, draws ``samples`` fresh effective samples
over the whole trajectory (``chi ~ N(0, C)`` through a Cholesky factor of the
``steps x steps`` matrix ``C``), runs them through time, averages them into fresh
kernels and mixes ``kernels = damping * old + (1 - damping) * fresh``. A fixed number of
rounds, no tolerance.

Run ``python benches/teacher_student_baseline.py`` for the benchmark workload
(alpha = 3, lam = 0.5, lr = 0.1, b = 1, m0 = 0.2, q0 = 1, T = 50, S = 20000, 30 rounds).
"""

from __future__ import annotations

import math
import os
import time

if __name__ == "__main__":  # the baseline is single-threaded: pin BLAS before numpy loads it
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402


def cholesky_psd(C: np.ndarray, rel_tol: float = 1e-6) -> np.ndarray:
    """Lower factor ``L`` with ``L L^T = C`` for a positive semi-definite ``C``.

    As in theory.md 4.3: a pivot below ``rel_tol * C(k,k)`` is treated as zero (the
    zero-kernel start gives a rank-one ``C``, and GD an almost singular one), and a row
    whose squared norm exceeds ``C(k,k)`` is scaled back to it.
    """
    T = C.shape[0]
    L = np.zeros_like(C)
    for j in range(T):
        v = C[j:, j] - L[j:, :j] @ L[j, :j]
        if v[0] > rel_tol * max(C[j, j], 0.0) and v[0] > 0.0:
            L[j:, j] = v / math.sqrt(v[0])
    norms = np.einsum("ij,ij->i", L, L)
    diag = np.maximum(np.diag(C), 0.0)
    over = norms > diag
    L[over] *= np.sqrt(diag[over] / norms[over])[:, None]
    return L


def weight_side(M_C, M_R, mu, alpha, lam, dt, m0, q0):
    """``C``, ``R`` and ``m`` for steps ``0..T-1`` from the kernels, (3.4)-(3.6)."""
    T = M_C.shape[0]
    C = np.zeros((T, T))
    R = np.zeros((T, T))
    m = np.zeros(T)
    C[0, 0], m[0] = q0, m0
    for k in range(T - 1):
        a = dt * M_R[k, : k + 1]
        a[k] += 1.0 - dt * lam
        # (3.4): R(k+1, l) = sum_{l<j<=k} a_j R(j, l) (R is strictly lower), R(k+1, k) = 1
        R[k + 1, :k] = a @ R[: k + 1, :k]
        R[k + 1, k] = 1.0
        # e_l = E[eta(k) w(l)] = dt sum_{i<l} R(l, i) M_C(k, i)
        e = dt * (R[: k + 1, : k + 1] @ M_C[k, : k + 1])
        # (3.5)
        row = a @ C[: k + 1, : k + 1] + dt * e
        C[k + 1, : k + 1] = row
        C[: k + 1, k + 1] = row
        C[k + 1, k + 1] = a @ row + dt * (a @ e) + dt * dt * M_C[k, k]
        # (3.6)
        m[k + 1] = (1.0 - dt * lam) * m[k] + dt * alpha * mu[k]
    return C, R, m


def effective_samples(C, R, m, alpha, dt, samples, rng, b=1.0, noise=0.0, normalize_batch=True):
    """One round of the pattern side: fresh samples run through all steps; returns the
    fresh kernels ``M_C``, ``M_R``, ``mu`` and the training loss per step."""
    T = C.shape[0]
    S = samples
    L = cholesky_psd(C)
    chi = L @ rng.standard_normal((T, S))  # time-major: row k is chi(k) of every sample
    h0 = rng.standard_normal(S)
    y = h0 + math.sqrt(noise) * rng.standard_normal(S) if noise > 0 else h0
    if b >= 1.0:
        scale = np.ones((T, S))
    else:
        scale = (rng.random((T, S)) < b) / (b if normalize_batch else 1.0)

    f = np.zeros((T, S))
    phi = -scale  # square loss: l'' = 1
    M_R = np.zeros((T, T))
    train_loss = np.zeros(T)
    G = np.zeros((T, S))  # tangent row k, G(k, l) for l <= k
    for k in range(T):
        g = chi[k] + dt * (R[k, :k] @ f[:k]) if k else chi[k]
        h = h0 * m[k] + g
        resid = h - y  # l'(y, h) for the square loss
        train_loss[k] = 0.5 * np.mean(resid * resid)
        f[k] = -scale[k] * resid
        # (4.2): backward sweep along the row
        G[k] = 1.0
        for l in range(k - 1, -1, -1):
            G[l] = dt * phi[l] * (R[l + 1 : k + 1, l] @ G[l + 1 : k + 1])
        M_R[k, : k + 1] = alpha * (G[: k + 1] @ phi[k]) / S
    M_C = alpha * (f @ f.T) / S
    mu = (f @ h0) / S
    return M_C, M_R, mu, train_loss


def solve(
    alpha,
    lam,
    lr,
    m0,
    q0,
    steps,
    samples,
    rounds=30,
    damping=0.55,
    seed=0,
    *,
    b=1.0,
    noise=0.0,
    normalize_batch=True,
):
    """Damped fixed-point iteration of the DMFT; see the module docstring.

    Returns a dict with ``m``, ``q`` (shape ``(steps,)``, steps ``k = 0..steps-1``),
    ``C``, ``R`` (``steps x steps``), the final kernels ``M_C``, ``M_R``, ``mu``,
    ``train_loss`` (from the last round's samples), ``test_loss`` =
    ``((1 - m)^2 + q + noise) / 2`` and ``change``, the largest relative change of the
    kernels in each round.
    """
    rng = np.random.default_rng(seed)
    T, dt = int(steps), float(lr)
    M_C, M_R, mu = np.zeros((T, T)), np.zeros((T, T)), np.zeros(T)
    change = []
    train_loss = np.full(T, np.nan)
    for _ in range(rounds):
        C, R, m = weight_side(M_C, M_R, mu, alpha, lam, dt, m0, q0)
        fC, fR, fmu, train_loss = effective_samples(
            C, R, m, alpha, dt, samples, rng, b=b, noise=noise, normalize_batch=normalize_batch
        )
        new = [
            damping * old + (1.0 - damping) * fresh
            for old, fresh in ((M_C, fC), (M_R, fR), (mu, fmu))
        ]
        change.append(
            max(
                np.max(np.abs(n - o)) / max(np.max(np.abs(n)), 1e-300)
                for n, o in zip(new, (M_C, M_R, mu))
            )
        )
        M_C, M_R, mu = new
    C, R, m = weight_side(M_C, M_R, mu, alpha, lam, dt, m0, q0)
    q = np.diag(C).copy()
    return dict(
        m=m,
        q=q,
        C=C,
        R=R,
        M_C=M_C,
        M_R=M_R,
        mu=mu,
        train_loss=train_loss,
        test_loss=0.5 * ((1.0 - m) ** 2 + q + noise),
        change=np.array(change),
    )


if __name__ == "__main__":
    workload = dict(alpha=3.0, lam=0.5, lr=0.1, m0=0.2, q0=1.0, steps=50, samples=20000)
    t0 = time.perf_counter()
    out = solve(**workload)
    elapsed = time.perf_counter() - t0
    print(f"workload {workload}, b=1, rounds=30, damping=0.55")
    print(f"wall time {elapsed:.2f} s")
    print(f"m(T-1) = {out['m'][-1]:.6f}, q(T-1) = {out['q'][-1]:.6f}")
