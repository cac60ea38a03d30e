"""Benchmark: dmft-sgd against JAX and PyTorch implementations of the same computations,
measured in the same run (issue 26, "speed at the machine's limit").

1. Simulator. The workload of benches/bench_simulate.py: two clusters, logistic, alpha=2,
   Delta=0.5, lambda=0.1, lr=0.2, b=0.3 (plain SGD), 200 steps, at
     (A) d=200 with 256 replicas and (B) d=2000 with 8 replicas,
   data generation included (as `ds.simulate` does both), m, q, train loss and error
   recorded at every step, the test error from m and q. The peers are written as a
   competent user would:
     JAX:     float32, jax.random inside, vmap over replicas, lax.scan over steps, jit
              (compile time reported apart; XLA uses all cores);
     PyTorch: float32, batched matrix products over replicas, explicit gradient,
              no_grad, torch.set_num_threads(2).
   Each draws its own random numbers: the final ensemble means agree with Rust's within
   Monte Carlo error, printed as in bench_simulate (in combined standard errors).
2. DMFT. A float64 JAX port of bench_dmft.numpy_dmft(tangent="backward") (the single-pass
   DMFT, backward tangent restricted to the samples in the batch), jit-compiled with
   lax.fori_loop. Shapes must be static, so every row is computed at full length T with
   the not-yet-computed entries zero (the masked-array trick: about 3x the flops of the
   numpy triangle loops in the tangent sweep), and the samples in the batch are gathered
   into a fixed-size buffer (jnp.nonzero(size=...), a bound 8 standard deviations above
   b S). The loop body is compiled once, so compile time does not grow with T. Against
   ds.solve_dmft(response="tangent") at T=100 and T=200, S=10000; m, q and the train loss
   at the last step agree within Monte Carlo error (the port's error taken equal to
   Rust's, same S).

The peers are needed for this benchmark only, never by the package:
      pip install -r benches/requirements-peers.txt
A peer that is not installed is skipped with a message.

Run:  python benches/bench_peers.py            (full, ~2 minutes on 2 idle cores)
      python benches/bench_peers.py --quick    (smaller, a smoke test in < 1 minute)
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import dmft_sgd as ds
from _machine import measure, timed
from bench_dmft import CFG as DMFT_CFG
from bench_simulate import CFG, NUMPY_ROWS, check_agreement

THREADS = 2


def batch_rates(cfg: ds.Config) -> tuple[float, float]:
    """(p_on, p_off): per-step probabilities of a sample entering / leaving the batch."""
    tau = cfg.effective_tau
    return cfg.lr / tau, cfg.lr * (1 - cfg.batch) / (cfg.batch * tau)


# ---------------------------------------------------------------------------- JAX

def jax_simulator(cfg: ds.Config, d: int, replicas: int):
    """A jitted function of the seed returning (replicas, NUMPY_ROWS, steps) in float32."""
    import jax
    import jax.numpy as jnp
    from jax.scipy.special import ndtr

    n, f32 = round(cfg.alpha * d), jnp.float32
    p_on, p_off = batch_rates(cfg)
    sqd = math.sqrt(d)

    def replica(key):
        kv, kc, kx, kw, ks, ksteps = jax.random.split(key, 6)
        v = jax.random.normal(kv, (d,), f32)
        v = v * (sqd / jnp.linalg.norm(v))
        y = jnp.where(jax.random.uniform(kc, (n,), f32) < 0.5, f32(-1), f32(1))
        X = jnp.outer(y, v / sqd) + math.sqrt(cfg.delta) * jax.random.normal(kx, (n, d), f32)
        w = cfg.effective_m0 * v + math.sqrt(cfg.q0) * jax.random.normal(kw, (d,), f32)
        s = jax.random.uniform(ks, (n,), f32) < cfg.batch

        def step(carry, key):
            w, s = carry
            m = w @ v / d
            q = w @ w / d - m * m
            z = y * (X @ w) / sqd
            observed = jnp.stack([m, q, jnp.logaddexp(0, -z).mean(), jnp.mean(z <= 0, dtype=f32)])
            g = -y * jax.nn.sigmoid(-z) * s
            w = (1 - cfg.lr * cfg.lam) * w - cfg.lr * (g @ X) / sqd
            u = jax.random.uniform(key, (n,), f32)
            return (w, jnp.where(s, u >= p_off, u < p_on)), observed

        _, rows = jax.lax.scan(step, (w, s), jax.random.split(ksteps, cfg.steps))
        m, q = rows[:, 0], rows[:, 1]
        test_error = ndtr(-m / jnp.sqrt(cfg.delta * (m**2 + q)))
        return jnp.concatenate([rows.T, test_error[None]])

    @jax.jit
    def run(seed):
        return jax.vmap(replica)(jax.random.split(jax.random.key(seed), replicas))

    return run


def jax_dmft(cfg: ds.Config, S: int):
    """bench_dmft.numpy_dmft(tangent="backward") in JAX: (a jitted function of the seed
    returning m, q, train_loss and the largest number of samples in a batch, the size of
    the batch buffer)."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    T, dt, lam, alpha = cfg.steps, cfg.lr, cfg.lam, cfg.alpha
    sd = math.sqrt(cfg.delta)
    p_on, p_off = batch_rates(cfg)
    # Static size of the buffer of samples in the batch (Binomial(S, b) at each step).
    A = min(S, math.ceil(cfg.batch * S + 8 * math.sqrt(S * cfg.batch * (1 - cfg.batch))))
    idx_T = jnp.arange(T)

    def cholesky_row(k, C, L):
        # L[k, j] for j < k in order; L[k, j:] is still zero, so L[k] @ L[j] = L[k, :j] @ L[j, :j].
        def entry(j, L):
            pivot = L[j, j]
            value = (C[k, j] - L[k] @ L[j]) / jnp.where(pivot > 0, pivot, 1.0)
            return L.at[k, j].set(jnp.where(pivot > 0, value, 0.0))

        L = lax.fori_loop(0, k, entry, L)
        piv = C[k, k] - L[k] @ L[k]
        return L.at[k, k].set(jnp.where(piv > 1e-12 * C[k, k], jnp.sqrt(jnp.maximum(piv, 0.0)), 0.0))

    def tangent_row(k, R, Phi, s):
        # X[l] = c phi(l) sum_{l<j<=k} R(j,l) X[j], X[k] = 1, on the samples in the batch.
        # R[:, l] @ X sums over j > l only: R is strictly lower triangular and X's rows
        # below l and above k are zero.
        active = jnp.nonzero(s, size=A, fill_value=0)[0]
        phi = jnp.where(jnp.arange(A) < s.sum(), Phi[:, active], 0.0)  # (T, A)
        X = jnp.zeros((T, A)).at[k].set(1.0)

        def back(i, X):
            l = k - 1 - i
            return X.at[l].set(sd * dt * phi[l] * (R[:, l] @ X))

        X = lax.fori_loop(0, k, back, X)
        return X @ phi[k]

    def weight_side(k, state):
        C, R, MC, MR, m, mu = (state[name] for name in ("C", "R", "MC", "MR", "m", "mu"))
        a = dt * MR[k] + jnp.where(idx_T == k, 1 - dt * lam, 0.0)  # zero beyond k
        below = idx_T <= k
        e = jnp.where(below, dt * (R @ MC[k]), 0.0)  # R[l] @ MC[k] = R[l, :l] @ MC[k, :l]
        R = R.at[k + 1].set(a @ R).at[k + 1, k].set(1.0)
        row = jnp.where(below, a @ C + dt * e, 0.0)  # C's columns beyond k are still zero
        C = C.at[k + 1].set(row).at[:, k + 1].set(row)
        C = C.at[k + 1, k + 1].set(a @ row + dt * (a @ e) + dt * dt * MC[k, k])
        m = m.at[k + 1].set((1 - dt * lam) * m[k] + dt * alpha * mu[k])
        return {**state, "C": C, "R": R, "m": m}

    def step(k, state):
        key = jax.random.fold_in(state["key"], k)
        k_batch, k_xi = jax.random.split(key)
        L = cholesky_row(k, state["C"], state["L"])
        v = jax.random.uniform(k_batch, (S,))
        s = jnp.where(k > 0, jnp.where(state["s"], v >= p_off, v < p_on), state["s"])
        xi = state["xi"].at[k].set(jax.random.normal(k_xi, (S,)))
        u, y, F, Phi, R = state["u"], state["y"], state["F"], state["Phi"], state["R"]
        # Rows of xi and F beyond k are zero, and so is R[k, k:] outside R[k, k] = 1 (F[k] = 0).
        g = L[k] @ xi + sd * dt * (R[k] @ F)
        z = y * (u * state["m"][k] + sd * g)
        sig = jax.nn.sigmoid(-z)
        F = F.at[k].set(s * y * sig)
        Phi = Phi.at[k].set(-sd * s * sig * (1 - sig))
        MC_row = alpha * cfg.delta * (F @ F[k]) / S
        MR_row = alpha * sd * tangent_row(k, R, Phi, s) / S
        state = {
            **state, "L": L, "s": s, "xi": xi, "F": F, "Phi": Phi,
            "MC": state["MC"].at[k].set(MC_row).at[:, k].set(MC_row),
            "MR": state["MR"].at[k].set(MR_row),
            "mu": state["mu"].at[k].set((u * F[k]).mean()),
            "loss": state["loss"].at[k].set(jnp.logaddexp(0, -z).mean()),
            "most": jnp.maximum(state["most"], s.sum()),
        }
        return lax.cond(k + 1 < T, weight_side, lambda k, state: state, k, state)

    @jax.jit
    def run(seed):
        key, k_c, k_u, k_s = jax.random.split(jax.random.key(seed), 4)
        y = jnp.where(jax.random.uniform(k_c, (S,)) < 0.5, -1.0, 1.0)
        zeros_TT, zeros_TS = jnp.zeros((T, T)), jnp.zeros((T, S))
        state = {
            "key": key, "y": y, "u": y + sd * jax.random.normal(k_u, (S,)),
            "s": jax.random.uniform(k_s, (S,)) < cfg.batch,
            "C": zeros_TT.at[0, 0].set(cfg.q0), "R": zeros_TT, "L": zeros_TT, "MC": zeros_TT,
            "MR": zeros_TT, "m": jnp.zeros(T).at[0].set(cfg.effective_m0), "mu": jnp.zeros(T),
            "xi": zeros_TS, "F": zeros_TS, "Phi": zeros_TS, "loss": jnp.zeros(T),
            "most": jnp.array(0),
        }
        state = lax.fori_loop(0, T, step, state)
        return state["m"], jnp.diag(state["C"]), state["loss"], state["most"]

    return run, A


# ------------------------------------------------------------------------ PyTorch

def torch_simulate(cfg: ds.Config, d: int, replicas: int, seed: int = 0) -> np.ndarray:
    """All replicas at once, as bench_simulate.numpy_batched. (replicas, NUMPY_ROWS, steps)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    n, R, sqd = round(cfg.alpha * d), replicas, math.sqrt(d)
    p_on, p_off = batch_rates(cfg)
    with torch.no_grad():
        v = torch.randn(R, d, generator=gen)
        v *= sqd / v.norm(dim=1, keepdim=True)
        y = torch.where(torch.rand(R, n, generator=gen) < 0.5, -1.0, 1.0)
        # X = y v^T / sqrt(d) + sqrt(Delta) noise, the outer product added in place.
        X = torch.randn(R, n, d, generator=gen).mul_(math.sqrt(cfg.delta))
        X.baddbmm_(y[:, :, None], v[:, None, :], alpha=1 / sqd)
        w = cfg.effective_m0 * v + math.sqrt(cfg.q0) * torch.randn(R, d, generator=gen)
        s = torch.rand(R, n, generator=gen) < cfg.batch
        rows = []
        for _ in range(cfg.steps):
            m = (w * v).sum(1) / d
            q = (w * w).sum(1) / d - m * m
            z = y * torch.bmm(X, w[:, :, None])[:, :, 0] / sqd
            rows.append(torch.stack([m, q, torch.nn.functional.softplus(-z).mean(1), (z <= 0).float().mean(1)], dim=1))
            g = -y * torch.sigmoid(-z) * s
            w = (1 - cfg.lr * cfg.lam) * w - cfg.lr * torch.bmm(g[:, None, :], X)[:, 0, :] / sqd
            u = torch.rand(R, n, generator=gen)
            s = torch.where(s, u >= p_off, u < p_on)
        out = torch.stack(rows, dim=2)  # (R, 4, steps)
        m, q = out[:, 0], out[:, 1]
        test_error = torch.special.ndtr(-m / torch.sqrt(cfg.delta * (m**2 + q)))
        return torch.cat([out, test_error[:, None]], dim=1).double().numpy()


# -------------------------------------------------------------------------- main

def warm_then_best(fn, repeats=3):
    """One untimed call (caches, thread pools, JIT), then the best of `repeats`."""
    fn()
    return timed(fn, repeats)


def peers() -> dict[str, str]:
    """{peer: version} of the peers installed; a message for each missing one."""
    found = {}
    try:
        import jax

        jax.config.update("jax_enable_x64", True)  # for the DMFT port; the simulator asks for float32
        found["jax"] = jax.__version__
    except ImportError as err:
        print(f"jax not installed ({err}): its comparisons are skipped")
    try:
        import torch

        torch.set_num_threads(THREADS)
        found["torch"] = torch.__version__
    except ImportError as err:
        print(f"torch not installed ({err}): its comparisons are skipped")
    return found


def bench_simulator(cfg: ds.Config, d: int, replicas: int, found: dict[str, str]) -> None:
    print(f"d={d}, replicas={replicas}, steps={cfg.steps}")
    rust_t, rust = warm_then_best(lambda: ds.simulate(cfg, d=d, replicas=replicas, seed=0, threads=THREADS))
    print(f"  rust simulate   {rust_t:8.3f} s")
    if "jax" in found:
        run = jax_simulator(cfg, d, replicas)
        start = time.perf_counter()
        compiled = run.lower(0).compile()
        compile_t = time.perf_counter() - start
        jax_t, out = warm_then_best(lambda: compiled(0).block_until_ready())
        assert out.dtype == np.float32, out.dtype
        print(f"  jax             {jax_t:8.3f} s   rust is {jax_t / rust_t:6.1f}x faster   (+ compile {compile_t:.2f} s)")
        print(f"    same physics: {check_agreement(rust, np.asarray(out, dtype=np.float64))}")
    if "torch" in found:
        torch_t, out = warm_then_best(lambda: torch_simulate(cfg, d, replicas))
        print(f"  torch           {torch_t:8.3f} s   rust is {torch_t / rust_t:6.1f}x faster")
        print(f"    same physics: {check_agreement(rust, out)}")
    assert len(NUMPY_ROWS) == 5


def bench_dmft(T: int, S: int, found: dict[str, str]) -> None:
    cfg = DMFT_CFG.replace(steps=T)
    print(f"T={T}, S={S}")
    rust_t, rust = warm_then_best(lambda: ds.solve_dmft(cfg, samples=S, seed=0, response="tangent", threads=THREADS))
    print(f"  rust solve_dmft {rust_t:8.3f} s   ({rust.groups} groups of {S // rust.groups} samples)")
    if "jax" not in found:
        return
    import jax

    run, buffer = jax_dmft(cfg, S)
    start = time.perf_counter()
    compiled = run.lower(0).compile()
    compile_t = time.perf_counter() - start
    jax_t, (m, q, loss, most) = warm_then_best(lambda: jax.block_until_ready(compiled(0)))
    if int(most) > buffer:  # then samples were left out of the tangent: the port is wrong
        raise RuntimeError(f"{int(most)} samples in a batch, beyond the buffer of {buffer}")
    print(f"  jax             {jax_t:8.3f} s   rust is {jax_t / rust_t:6.1f}x faster   (+ compile {compile_t:.2f} s; "
          f"batch buffer {buffer} of {S} samples)")
    rows = []
    for name, ours in (("m", m), ("q", q), ("train_loss", loss)):
        a, b = getattr(rust, name)[-1], float(ours[-1])
        se = math.sqrt(2) * rust.sem(name)[-1]  # the port's error taken equal to Rust's (same S)
        rows.append(f"{name} {a:.4f}/{b:.4f} ({abs(a - b) / se:.1f} se)")
    print(f"    same physics at step T-1: {'; '.join(rows)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    found = peers()
    print(measure(THREADS)[2])
    print("peers: " + (", ".join(f"{name} {version}" for name, version in found.items()) or "none"))

    steps = 50 if args.quick else 200
    cfg = CFG.replace(steps=steps)
    print(f"\n1. simulator, float32, {THREADS} threads; workload: {cfg}")
    for d, replicas in ((200, 64 if args.quick else 256), (2000, 2 if args.quick else 8)):
        bench_simulator(cfg, d, replicas, found)

    print(f"\n2. DMFT, float64, tangent response, {THREADS} threads; workload: bench_dmft's, "
          f"alpha={DMFT_CFG.alpha}, delta={DMFT_CFG.delta}, lam={DMFT_CFG.lam}, lr={DMFT_CFG.lr}, b={DMFT_CFG.batch}")
    for T, S in ((30, 2000), (60, 2000)) if args.quick else ((100, 10_000), (200, 10_000)):
        bench_dmft(T, S, found)


if __name__ == "__main__":
    main()
