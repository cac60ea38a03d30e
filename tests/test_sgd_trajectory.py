"""The Rust SGD recursion against a plain numpy one, step by step, on the same data."""

import itertools

import numpy as np
import pytest

import dmft_sgd as ds
import reference

SETTINGS = list(
    itertools.product([2, 3], ["logistic", "square"], ["linear", "door"], ["gd", "persistent"])
)


@pytest.mark.parametrize("clusters,loss,activation,dynamics", SETTINGS)
def test_rust_matches_numpy_step_by_step(clusters, loss, activation, dynamics):
    batch = dict(gd=dict(batch=1.0), persistent=dict(batch=0.4, tau=0.5))[dynamics]
    cfg = ds.Config(
        clusters=clusters, loss=loss, activation=activation, alpha=2.0, delta=0.5, rho=0.4 if clusters == 3 else 0.5,
        threshold=0.8 if activation == "door" else None, lam=0.05, lr=0.05, steps=40, **batch,
    )
    rng = np.random.default_rng(SETTINGS.index((clusters, loss, activation, dynamics)))
    d, n = 30, 60
    X, y, v = reference.mixture(cfg, d, n, rng)
    w0 = 0.2 * v + rng.standard_normal(d)
    mask = ds.minibatch_chain(n, cfg, seed=5)
    if dynamics == "gd":
        assert mask.all()
    got = ds.sgd_trajectory(X, y, v, w0, cfg, seed=5)
    want, w_last = reference.sgd(X, y, v, w0, cfg, mask)
    for name, values in want.items():
        np.testing.assert_allclose(getattr(got, name), values, rtol=1e-10, atol=1e-12, err_msg=name)
    # The recorded weights are those of the last step (before its update).
    assert got.w.shape == (d,)
    np.testing.assert_allclose(got.t, np.arange(cfg.steps) * cfg.lr)


def test_explicit_batches_are_used():
    cfg = ds.Config(batch=0.5, lr=0.1, steps=15, lam=0.1)
    rng = np.random.default_rng(1)
    X, y, v = reference.mixture(cfg, 20, 40, rng)
    w0 = rng.standard_normal(20)
    mask = rng.random((15, 40)) < 0.5
    got = ds.sgd_trajectory(X, y, v, w0, cfg, batches=mask)
    want, _ = reference.sgd(X, y, v, w0, cfg, mask)
    np.testing.assert_allclose(got.m, want["m"], rtol=1e-10, atol=1e-12)
    # A different seed with explicit batches changes nothing; without them it does.
    assert np.array_equal(ds.sgd_trajectory(X, y, v, w0, cfg, seed=9, batches=mask).m, got.m)
    assert not np.array_equal(ds.sgd_trajectory(X, y, v, w0, cfg, seed=9).m, got.m)


def test_square_loss_gd_converges_to_the_ridge_solution():
    # H(w) = sum_mu (h_mu - y_mu)^2/2 + lam |w|^2/2 is minimised by
    # (X^T X / d + lam) w = X^T y / sqrt(d); GD contracts towards it by at least
    # (1 - lr lam) per step, here 0.98^800 ~ 1e-7.
    d, n = 100, 200
    cfg = ds.Config(loss="square", lam=0.1, lr=0.2, steps=800)
    rng = np.random.default_rng(2)
    X, y, v = reference.mixture(cfg, d, n, rng)
    A = X.T @ X / d + cfg.lam * np.eye(d)
    assert cfg.lr * np.linalg.eigvalsh(A).max() < 2  # GD is stable
    w_star = np.linalg.solve(A, X.T @ y / np.sqrt(d))
    got = ds.sgd_trajectory(X, y, v, np.zeros(d), cfg)
    np.testing.assert_allclose(got.w, w_star, rtol=0, atol=1e-5 * np.abs(w_star).max())


def test_user_data_errors_name_the_argument():
    cfg = ds.Config(steps=3)
    d, n = 4, 6
    rng = np.random.default_rng(0)
    X, y, v = reference.mixture(cfg, d, n, rng)
    w0 = np.zeros(d)
    bad_x = X.copy()
    bad_x[2, 1] = np.nan
    cases = [
        (dict(X=X[:, :3]), ValueError, "X must have shape"),
        (dict(X=X[0]), ValueError, "X must be a 2-D array"),
        (dict(X=bad_x), ValueError, "X must be finite"),
        (dict(X=X.astype(complex)), TypeError, "X must hold real numbers"),
        (dict(y=y[:-1]), ValueError, "X must have shape"),
        (dict(v_star=2 * v), ValueError, "v_star must be normalised"),
        (dict(w0=np.zeros(d + 1)), ValueError, "w0 must have length"),
        (dict(batches=np.ones((3, n))), TypeError, "batches must be a boolean"),
        (dict(batches=np.ones((2, n), bool)), ValueError, "batches must have shape"),
        (dict(seed=-1), ValueError, "seed must be >= 0"),
    ]
    for change, exc, msg in cases:
        args = {**dict(X=X, y=y, v_star=v, w0=w0, cfg=cfg, seed=0), **change}
        with pytest.raises(exc, match=msg):
            ds.sgd_trajectory(**args)


def test_non_contiguous_and_integer_inputs_are_accepted():
    cfg = ds.Config(steps=5)
    rng = np.random.default_rng(3)
    X, y, v = reference.mixture(cfg, 8, 16, rng)
    w0 = rng.standard_normal(8)
    base = ds.sgd_trajectory(X, y, v, w0, cfg)
    fortran = ds.sgd_trajectory(np.asfortranarray(X), y.astype(int), v, w0, cfg)
    np.testing.assert_array_equal(base.m, fortran.m)
