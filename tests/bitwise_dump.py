"""Bit-for-bit guard for refactors: dumps the numbers of both engines on many models.

    python tests/bitwise_dump.py before.npz        # before a change
    python tests/bitwise_dump.py after.npz         # after it
    python tests/bitwise_dump.py --compare before.npz after.npz

The dump holds the DMFT (tangent and probe: every observable, its sem, C, R, the
kernels), `simulate` and `sgd_trajectory` on each model below, each at 1 and 2 threads;
the comparison lists every array that is not identical bit for bit (NaN equals NaN).
Not collected by pytest (no ``test_`` prefix): a tool, run by hand around a refactor.
"""

from __future__ import annotations

import sys

import numpy as np

import dmft_sgd as ds

MODELS = {
    "mixture2": dict(alpha=2.0, delta=0.5, lam=0.1, lr=0.2, batch=0.3),
    "mixture2_persistent": dict(alpha=2.0, delta=0.5, lam=0.1, lr=0.1, batch=0.3, tau=2.0,
                                normalize_batch=True),
    "mixture3_door": dict(clusters=3, alpha=3.0, delta=0.3, lr=0.1, batch=0.5),
    "teacher_sign": dict(data="teacher", alpha=2.0, lam=0.05, lr=0.2, batch=0.5,
                         loss="squared_hinge"),
    "teacher_linear_langevin": dict(data="teacher", teacher="linear", noise=0.1, lam=0.5,
                                    temperature=0.05, lr=0.1, batch=1.0),
    "teacher_square": dict(data="teacher", teacher="square", alpha=3.0, lr=0.01, batch=0.5),
    "momentum_nesterov": dict(alpha=2.0, delta=0.5, lam=0.1, lr=0.1, batch=0.3,
                              momentum=0.8, nesterov=True),
    "schedule_tanh": dict(data="teacher", activation="tanh", loss="square", alpha=2.0,
                          lr=list(np.linspace(0.05, 0.2, 30)), batch=0.5),
}


def dump() -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, kw in MODELS.items():
        steps = len(kw["lr"]) if isinstance(kw.get("lr"), list) else 30
        cfg = ds.Config(steps=steps, **kw)
        for threads in (1, 2):
            for response in ("tangent", "probe"):
                res = ds.solve_dmft(cfg, samples=600, seed=3, threads=threads, response=response)
                key = f"{name}/dmft_{response}/t{threads}"
                for obs in ("m", "q", "train_loss", "test_loss", "train_error", "test_error"):
                    value = getattr(res, obs)
                    if value is not None:
                        out[f"{key}/{obs}"] = np.asarray(value)
                        out[f"{key}/{obs}_sem"] = res.sem(obs)
                for two in ("C", "R", "M_C", "M_R", "mu"):
                    out[f"{key}/{two}"] = np.asarray(getattr(res, two))
            sim = ds.simulate(cfg, d=80, replicas=3, seed=5, threads=threads)
            for obs in ("m", "q", "train_loss", "test_loss", "train_error", "test_error"):
                value = getattr(sim, obs)
                if value is not None:
                    out[f"{name}/simulate/t{threads}/{obs}"] = np.asarray(value)
        rng = np.random.default_rng(7)
        x = rng.standard_normal((60, 40))
        y = np.sign(x[:, 0] + 0.3 * rng.standard_normal(60)) if cfg.classifies else x[:, 0]
        v_star = rng.standard_normal(40)
        v_star *= np.sqrt(40) / np.linalg.norm(v_star)
        w0 = 0.1 * rng.standard_normal(40)
        traj = ds.sgd_trajectory(x, y, v_star, w0, cfg, seed=2)
        for obs in ("m", "q", "train_loss", "train_error"):
            value = getattr(traj, obs, None)
            if value is not None:
                out[f"{name}/trajectory/{obs}"] = np.asarray(value)
    return out


def compare(before: str, after: str) -> int:
    a, b = np.load(before), np.load(after)
    differ = [k for k in a.files if k not in b.files
              or a[k].shape != b[k].shape
              or not np.array_equal(a[k], b[k], equal_nan=True)]
    missing = [k for k in b.files if k not in a.files]
    print(f"{len(a.files)} arrays before, {len(b.files)} after; {len(differ)} differ, "
          f"{len(missing)} new")
    for k in differ[:20]:
        print("  differs:", k)
    return 1 if differ else 0


if __name__ == "__main__":
    if sys.argv[1] == "--compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    arrays = dump()
    np.savez(sys.argv[1], **arrays)
    print(f"{len(arrays)} arrays -> {sys.argv[1]}")
