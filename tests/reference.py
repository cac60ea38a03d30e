"""Plain numpy implementations of theory.md sections 1-2, written independently of the
package, for the tests to compare against."""

from __future__ import annotations

import math

import numpy as np


def phi(x: float) -> float:
    """Standard normal CDF."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def test_error(cfg, m: float, q: float) -> float:
    """The two closed forms of theory.md section 2 (and 1/2 for the symmetric cases)."""
    sd = math.sqrt(cfg.delta * (m * m + q))
    act = cfg.effective_activation
    if cfg.clusters == 2 and act in ("linear", "tanh"):  # sign(tanh h) = sign(h)
        return phi(-m / sd)
    if cfg.clusters == 3 and act == "door":
        r = math.sqrt(cfg.effective_threshold)
        inside = lambda mean: phi((r - mean) / sd) - phi((-r - mean) / sd)  # noqa: E731
        return cfg.rho * inside(m) + (1 - cfg.rho) * (1 - inside(0.0))
    # Two clusters with the door, three with a linear or tanh output: every cluster's error and
    # its mirror image add up to chance.
    return 0.5


def _direction(d: int, rng: np.random.Generator, v: np.ndarray | None) -> np.ndarray:
    """`v` if given (a test set of the same model), else a random |v|^2 = d."""
    if v is not None:
        return v
    v = rng.standard_normal(d)
    return v * (math.sqrt(d) / np.linalg.norm(v))


def mixture(cfg, d: int, n: int, rng: np.random.Generator, v: np.ndarray | None = None):
    """Teacher, data and labels of the mixture model of `cfg` (direction `v` if given)."""
    v = _direction(d, rng, v)
    if cfg.clusters == 2:
        c = rng.choice([-1.0, 1.0], size=n)
        y = c.copy()
    else:
        c = rng.choice([-1.0, 0.0, 1.0], size=n, p=[cfg.rho / 2, 1 - cfg.rho, cfg.rho / 2])
        y = np.where(c != 0, 1.0, -1.0)
    X = np.outer(c, v) / math.sqrt(d) + math.sqrt(cfg.delta) * rng.standard_normal((n, d))
    return X, y, v


def teacher(cfg, d: int, n: int, rng: np.random.Generator, v: np.ndarray | None = None):
    """Teacher, data and labels of the teacher model of `cfg` (theory.md section 1;
    direction `v` if given)."""
    v = _direction(d, rng, v)
    X = rng.standard_normal((n, d))
    h0 = X @ v / math.sqrt(d)
    noisy = lambda x: x + math.sqrt(cfg.noise) * rng.standard_normal(n)  # noqa: E731
    y = {"linear": lambda: noisy(h0), "sign": lambda: np.where(noisy(h0) >= 0, 1.0, -1.0),
         "square": lambda: noisy(h0**2)}[cfg.teacher]()
    return X, y, v


def loss_and_slope(cfg, y: np.ndarray, h: np.ndarray):
    """l(y, h) and l'(y, h) = ell_o(y, o) o'(h) per sample, through o(h), for every
    built-in loss (theory.md section 1) and output: linear o = h, door o = h^2 - theta,
    tanh o = tanh(h), erf o = erf(h/sqrt 2), relu o = max(h, 0)."""
    act = cfg.effective_activation
    if act == "door":
        o, o_h = h * h - cfg.effective_threshold, 2 * h
    elif act == "tanh":
        o = np.tanh(h)
        o_h = 1.0 - o * o
    elif act == "erf":
        o = np.array([math.erf(x / math.sqrt(2.0)) for x in h])
        o_h = math.sqrt(2.0 / math.pi) * np.exp(-0.5 * h * h)
    elif act == "relu":
        o, o_h = np.maximum(h, 0.0), (h > 0.0).astype(float)
    else:
        o, o_h = h, None
    loss = cfg.effective_loss
    if loss == "logistic":
        ell = np.logaddexp(0.0, -y * o)
        ell_o = -y / (1.0 + np.exp(y * o))
    elif loss == "square":
        ell = 0.5 * (o - y) ** 2
        ell_o = o - y
    elif loss == "squared_hinge":
        gap = np.maximum(0.0, 1.0 - y * o)
        ell = 0.5 * gap**2
        ell_o = -y * gap
    elif loss == "exponential":
        ell = np.exp(-y * o)
        ell_o = -y * ell
    elif loss == "hinge":
        inside = y * o < 1.0
        ell = np.where(inside, 1.0 - y * o, 0.0)
        ell_o = np.where(inside, -y, 0.0)
    else:
        raise ValueError(f"no reference for loss {loss!r}")
    return ell, (ell_o if o_h is None else ell_o * o_h), o


def sgd(X, y, v, w0, cfg, batches, langevin_noise=None, test=None):
    """The SGD recursion of theory.md section 1 on user data, with the observables of
    section 2: the errors where every label is ±1, the test loss and error measured on
    the held-out set `test` = (X_test, y_test), if given."""
    n, d = X.shape
    w = w0.copy()
    rows = {k: [] for k in ("m", "q", "train_loss", "train_error", "test_error", "test_loss")}
    weight = 1 / cfg.batch if cfg.normalize_batch else 1.0
    velocity = np.zeros(d)
    for k in range(cfg.steps):
        m = w @ v / d
        q = w @ w / d - m * m
        h = X @ w / math.sqrt(d)
        ell, slope, o = loss_and_slope(cfg, y, h)
        rows["m"].append(m)
        rows["q"].append(q)
        rows["train_loss"].append(ell.mean())
        signs = bool(np.all(np.abs(y) == 1))
        rows["train_error"].append(np.mean(y * o <= 0) if signs else None)
        if test is None:
            rows["test_error"].append(None)
            rows["test_loss"].append(None)
        else:
            X_test, y_test = test
            ell_t, _, o_t = loss_and_slope(cfg, y_test, X_test @ w / math.sqrt(d))
            rows["test_loss"].append(ell_t.mean())
            rows["test_error"].append(np.mean(y_test * o_t <= 0) if signs else None)
        lr = cfg.lr[k] if isinstance(cfg.lr, tuple) else cfg.lr  # the step's own rate
        if cfg.momentum == 0:
            w = (1 - lr * cfg.lam) * w - lr * weight * (batches[k] * slope) @ X / math.sqrt(d)
        else:  # torch.optim.SGD: the ridge inside g, v <- beta v + g, w <- w - lr (v or g + beta v)
            g = cfg.lam * w + weight * (batches[k] * slope) @ X / math.sqrt(d)
            velocity = cfg.momentum * velocity + g
            w = w - lr * (g + cfg.momentum * velocity if cfg.nesterov else velocity)
        if cfg.temperature > 0:
            w = w + math.sqrt(2 * lr * cfg.temperature) * langevin_noise[k]
    return {k: np.array(r) for k, r in rows.items() if None not in r}, w


def assert_close_to_simulation(name: str, theory_mean, theory_sem, sim, d: int) -> None:
    """DMFT against the finite-d simulation `sim` for one observable, at every step: the
    gap within 5 combined standard errors (sqrt(sem_sim^2 + sem_dmft^2); the DMFT's
    sem has 7 degrees of freedom with 8 groups) plus 1/d for the O(1/d) finite-size
    bias of the simulation."""
    se = np.sqrt(sim.sem(name) ** 2 + theory_sem**2)
    gap = np.abs(sim.mean(name) - theory_mean)
    worst = int(np.argmax(gap - 5 * se))
    assert np.all(gap <= 5 * se + 1 / d), (
        f"{name} at step {worst}: dmft {theory_mean[worst]:.5f} sim {sim.mean(name)[worst]:.5f} "
        f"se {se[worst]:.5f}")


def assert_dmft_matches_simulation(cfg, d: int = 1000, replicas: int = 16, samples: int = 32_000):
    """Solves the DMFT of `cfg` (seed 3) and simulates it at dimension `d` (seed 11), and
    checks every recorded observable at every step (`assert_close_to_simulation`).
    Returns (theory, sim, the names checked)."""
    import dmft_sgd as ds

    sim = ds.simulate(cfg, d=d, replicas=replicas, seed=11)
    theory = ds.solve_dmft(cfg, samples=samples, seed=3)
    names = [o for o in ds.OBSERVABLES if getattr(theory, o) is not None]
    for name in names:
        assert np.all(np.isfinite(theory.mean(name))) and np.all(np.isfinite(sim.mean(name))), name
        assert_close_to_simulation(name, theory.mean(name), theory.sem(name), sim, d)
    return theory, sim, names
