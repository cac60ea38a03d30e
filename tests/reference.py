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
    if cfg.clusters == 2 and act == "linear":
        return phi(-m / sd)
    if cfg.clusters == 3 and act == "door":
        r = math.sqrt(cfg.threshold)
        inside = lambda mean: phi((r - mean) / sd) - phi((-r - mean) / sd)  # noqa: E731
        return cfg.rho * inside(m) + (1 - cfg.rho) * (1 - inside(0.0))
    # Two clusters with the door, three with a linear output: every cluster's error and
    # its mirror image add up to chance.
    return 0.5


def mixture(cfg, d: int, n: int, rng: np.random.Generator):
    """Teacher, data and labels of the mixture model of `cfg`."""
    v = rng.standard_normal(d)
    v *= math.sqrt(d) / np.linalg.norm(v)
    if cfg.clusters == 2:
        c = rng.choice([-1.0, 1.0], size=n)
        y = c.copy()
    else:
        c = rng.choice([-1.0, 0.0, 1.0], size=n, p=[cfg.rho / 2, 1 - cfg.rho, cfg.rho / 2])
        y = np.where(c != 0, 1.0, -1.0)
    X = np.outer(c, v) / math.sqrt(d) + math.sqrt(cfg.delta) * rng.standard_normal((n, d))
    return X, y, v


def loss_and_slope(cfg, y: np.ndarray, h: np.ndarray):
    """l(y, h) and l'(y, h) per sample, through o(h)."""
    door = cfg.effective_activation == "door"
    o = h * h - cfg.threshold if door else h
    if cfg.loss == "logistic":
        ell = np.logaddexp(0.0, -y * o)
        ell_o = -y / (1.0 + np.exp(y * o))
    else:
        ell = 0.5 * (o - y) ** 2
        ell_o = o - y
    return ell, (ell_o * 2 * h if door else ell_o), o


def sgd(X, y, v, w0, cfg, batches):
    """The SGD recursion of theory.md section 1 with the observables of section 2."""
    n, d = X.shape
    w = w0.copy()
    rows = {k: [] for k in ("m", "q", "train_loss", "train_error", "test_error")}
    for k in range(cfg.steps):
        m = w @ v / d
        q = w @ w / d - m * m
        h = X @ w / math.sqrt(d)
        ell, slope, o = loss_and_slope(cfg, y, h)
        rows["m"].append(m)
        rows["q"].append(q)
        rows["train_loss"].append(ell.mean())
        rows["train_error"].append(np.mean(y * o <= 0))
        rows["test_error"].append(test_error(cfg, m, q))
        w = (1 - cfg.lr * cfg.lam) * w - cfg.lr * (batches[k] * slope) @ X / math.sqrt(d)
    return {k: np.array(r) for k, r in rows.items()}, w
