"""The Rust SGD recursion against a plain numpy one, step by step, on the same data."""

import itertools
import math

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
    X_test, y_test, _ = reference.mixture(cfg, d, 50, rng, v)
    got = ds.sgd_trajectory(X, y, v, w0, cfg, seed=5, X_test=X_test, y_test=y_test)
    want, w_last = reference.sgd(X, y, v, w0, cfg, mask, test=(X_test, y_test))
    assert set(want) == set(ds.OBSERVABLES)
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


def test_user_data_have_no_model_formula_for_their_test_observables():
    # Structured data of the user's own (clusters at +-3 along the first axis, not the
    # config's mixture): the test observables are measured on the held-out set, or absent.
    rng = np.random.default_rng(4)
    d, n = 20, 200
    v = np.zeros(d)
    v[0] = math.sqrt(d)

    def draw(count):
        y = rng.choice([-1.0, 1.0], size=count)
        X = rng.standard_normal((count, d))
        X[:, 0] += 3.0 * y
        return X, y

    (X, y), (X_test, y_test) = draw(n), draw(2000)
    cfg = ds.Config(lr=0.2, steps=30)
    bare = ds.sgd_trajectory(X, y, v, np.zeros(d), cfg)
    assert bare.test_error is None and bare.test_loss is None and bare.train_error is not None
    tested = ds.sgd_trajectory(X, y, v, np.zeros(d), cfg, X_test=X_test, y_test=y_test)
    h = X_test @ tested.w / math.sqrt(d)
    assert tested.test_error[-1] == np.mean(y_test * h <= 0)  # the last step's weights
    np.testing.assert_allclose(tested.test_loss[-1], np.mean(np.logaddexp(0, -y_test * h)), rtol=1e-12)
    # The mixture's formula at the run's (m, q) would have said otherwise.
    formula = ds.test_observables(cfg, tested.m[-1], tested.q[-1])["test_error"]
    assert abs(formula - tested.test_error[-1]) > 0.05, (formula, tested.test_error[-1])
    np.testing.assert_array_equal(tested.m, bare.m)


def test_user_labels_decide_what_is_recorded_and_which_loss_runs():
    rng = np.random.default_rng(5)
    d, n = 10, 40
    X, v = rng.standard_normal((n, d)), np.ones(d)
    y = X @ v / math.sqrt(d) + 0.1 * rng.standard_normal(n)
    cfg = ds.Config(steps=5)  # alpha, data and clusters are ignored for user data
    with pytest.raises(ValueError, match=r"^y must be ±1 for loss 'logistic'"):
        ds.sgd_trajectory(X, y, v, np.zeros(d), cfg)
    reg = ds.sgd_trajectory(X, y, v, np.zeros(d), cfg.replace(loss="square"))
    assert reg.train_error is None and reg.test_error is None and reg.test_loss is None
    X_test = rng.standard_normal((8, d))
    with pytest.raises(ValueError, match="X_test and y_test go together"):
        ds.sgd_trajectory(X, y, v, np.zeros(d), cfg.replace(loss="square"), X_test=X_test)
    with pytest.raises(ValueError, match=r"X_test must have shape \(n_test, d\) = \(8, 10\)"):
        ds.sgd_trajectory(X, y, v, np.zeros(d), cfg.replace(loss="square"), X_test=X_test[:, :3],
                          y_test=np.zeros(8))


def test_test_observables_are_the_engines_formulas():
    cfg = ds.Config(clusters=3, steps=1, m0=0.4, q0=0.7)
    got = ds.test_observables(cfg, 0.4, 0.7)
    res = ds.solve_dmft(cfg, samples=64, groups=1)
    assert got == {"test_loss": res.test_loss[0], "test_error": res.test_error[0]}
    assert ds.test_observables(ds.Config(data="teacher", teacher="linear"), 0.5, 0.5)["test_error"] is None
