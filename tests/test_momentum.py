"""Heavy-ball and Nesterov momentum (theory.md eqs. 1.2, 3.7-3.9) in both engines: SGD
against numpy step by step, the DMFT against the exact Marchenko-Pastur solution and
against finite-d simulations, the validation, and momentum=0 as plain SGD."""

import numpy as np
import pytest

import dmft_sgd as ds
import reference
from exact_teacher import teacher_gd_exact

NUMPY_SETTINGS = {
    "heavy ball, two clusters, plain SGD": dict(momentum=0.9, batch=0.4),
    "Nesterov, two clusters, GD, ridge": dict(momentum=0.7, nesterov=True, lam=0.2),
    "heavy ball, persistent SGD, Langevin": dict(momentum=0.5, batch=0.4, tau=0.5, temperature=0.1),
    "Nesterov, normalised batch, sign teacher": dict(
        data="teacher", teacher="sign", noise=0.1, momentum=0.6, nesterov=True, batch=0.5,
        normalize_batch=True),
    "heavy ball, linear teacher, square loss, Langevin": dict(
        data="teacher", teacher="linear", noise=0.2, momentum=0.8, temperature=0.05),
}


@pytest.mark.parametrize("name", list(NUMPY_SETTINGS))
def test_sgd_trajectory_matches_numpy_step_by_step(name):
    cfg = ds.Config(**{"alpha": 2.0, "lam": 0.05, "lr": 0.05, "steps": 40, **NUMPY_SETTINGS[name]})
    rng = np.random.default_rng(list(NUMPY_SETTINGS).index(name))
    d, n = 30, 60
    make = reference.teacher if cfg.data == "teacher" else reference.mixture
    X, y, v = make(cfg, d, n, rng)
    X_test, y_test, _ = make(cfg, d, 40, rng, v)
    w0 = 0.2 * v + rng.standard_normal(d)
    xi = rng.standard_normal((cfg.steps, d))
    mask = ds.minibatch_chain(n, cfg, seed=5)
    got = ds.sgd_trajectory(X, y, v, w0, cfg, seed=5, langevin_noise=xi, X_test=X_test, y_test=y_test)
    want, w_last = reference.sgd(X, y, v, w0, cfg, mask, langevin_noise=xi, test=(X_test, y_test))
    for obs, values in want.items():
        np.testing.assert_allclose(getattr(got, obs), values, rtol=1e-10, atol=1e-12, err_msg=obs)
    # Momentum changes the run (the comparison above is not the plain recursion's).
    plain = ds.sgd_trajectory(X, y, v, w0, cfg.replace(momentum=0.0, nesterov=False), seed=5, langevin_noise=xi)
    assert np.max(np.abs(plain.m - got.m)) > 1e-3


EXACT = {
    "heavy ball": dict(momentum=0.8),
    "Nesterov": dict(momentum=0.6, nesterov=True),
}


@pytest.mark.parametrize("name", list(EXACT))
def test_full_batch_momentum_matches_the_exact_marchenko_pastur_solution(name):
    # Linear teacher, square loss, full batch: per eigenvalue of X^T X/d a two-term linear
    # recurrence (tests/exact_teacher.py), exact at d -> infinity.
    p = dict(alpha=2.0, lam=0.1, lr=0.1, m0=0.2, steps=60)
    cfg = ds.Config(data="teacher", teacher="linear", noise=0.25, q0=1.0, **p, **EXACT[name])
    result = ds.solve_dmft(cfg, samples=20_000, seed=1)
    exact = teacher_gd_exact(p["alpha"], p["lam"], p["lr"], p["m0"], 1.0, p["steps"], noise=0.25, **EXACT[name])
    for obs in ("m", "q", "train_loss", "test_loss"):
        gap = np.abs(result.mean(obs) - exact[obs])
        # Step 0 is exact; 5 standard errors of a 7-dof estimate at every later step.
        assert np.all(gap[1:] <= 5 * result.sem(obs)[1:] + 1e-12), (obs, np.max(gap[1:] / result.sem(obs)[1:]))
    # Momentum moves the dynamics: the exact curves differ from plain GD's.
    plain = teacher_gd_exact(p["alpha"], p["lam"], p["lr"], p["m0"], 1.0, p["steps"], noise=0.25)
    assert np.max(np.abs(plain["m"] - exact["m"])) > 0.05


# Measured max (|gap| - 1/d)/se over steps, per observable (d = 1000, 16 replicas, S = 32000):
# heavy ball plain SGD 2.4 (q), Nesterov GD teacher 1.6, persistent + Langevin 2.9 (q),
# three clusters with the door 1.8.
DMFT_SETTINGS = {
    "heavy ball, plain SGD, two clusters": dict(momentum=0.8, lam=0.05, lr=0.05, batch=0.3, steps=80),
    "Nesterov GD, sign teacher": dict(
        data="teacher", teacher="sign", noise=0.1, momentum=0.7, nesterov=True, lam=0.05, lr=0.05, steps=80),
    "momentum, persistent SGD, Langevin": dict(
        momentum=0.5, lam=0.1, lr=0.05, batch=0.3, tau=1.0, temperature=0.05, steps=80),
    "three clusters, door, momentum": dict(clusters=3, momentum=0.6, lam=0.05, lr=0.05, steps=80),
}


@pytest.mark.parametrize("name", list(DMFT_SETTINGS))
def test_dmft_matches_the_finite_d_simulation(name):
    reference.assert_dmft_matches_simulation(ds.Config(**{"alpha": 2.0, **DMFT_SETTINGS[name]}))


def test_momentum_zero_is_plain_sgd_bit_for_bit_and_bad_values_are_named():
    cfg = ds.Config(batch=0.3, steps=20)
    explicit = cfg.replace(momentum=0.0)
    assert explicit == cfg  # the default
    with pytest.raises(ValueError, match=r"^momentum must be in \[0, 1\), got 1"):
        ds.Config(momentum=1.0)
    with pytest.raises(ValueError, match=r"^momentum must be in \[0, 1\), got -0.1"):
        ds.Config(momentum=-0.1)
    with pytest.raises(ValueError, match=r"^nesterov needs momentum > 0"):
        ds.Config(nesterov=True)
    with pytest.raises(TypeError, match="nesterov must be True or False"):
        ds.Config(momentum=0.5, nesterov=1)


def test_momentum_results_do_not_depend_on_threads():
    cfg = ds.Config(momentum=0.7, nesterov=True, batch=0.4, tau=1.0, temperature=0.02, steps=30)
    a = ds.solve_dmft(cfg, samples=2000, seed=4, threads=1)
    b = ds.solve_dmft(cfg, samples=2000, seed=4, threads=2)
    for name in ("C", "R", *ds.OBSERVABLES):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    s1 = ds.simulate(cfg, d=50, replicas=3, seed=2, threads=1)
    s2 = ds.simulate(cfg, d=50, replicas=3, seed=2, threads=2)
    np.testing.assert_array_equal(s1.q, s2.q)
    # Nesterov's response to a kick one step back is 1 + beta (heavy ball: 1).
    assert a.R[5, 4] == pytest.approx(1.7) and ds.solve_dmft(cfg.replace(nesterov=False), samples=200).R[5, 4] == 1.0
