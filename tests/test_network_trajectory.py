"""A committee's SGD on user data (`sgd_trajectory` with w0 of shape (K, d)) against a
plain numpy implementation of theory.md section 8, step by step on the same data, batch
mask and Langevin increments: the network simulator's recursion, checked on its own."""

import itertools
import math

import numpy as np
import pytest

import dmft_sgd as ds

UNITS = ["erf", "tanh", "relu", "square"]
LOSSES = ["square", "logistic"]
#: Each setting's dynamics, in turn: plain SGD with a ridge; heavy-ball momentum;
#: Langevin noise with normalised batches; Nesterov's momentum.
DYNAMICS = [
    dict(lam=0.05),
    dict(lam=0.02, momentum=0.5),
    dict(temperature=0.01, normalize_batch=True, tau=0.2),
    dict(momentum=0.3, nesterov=True),
]
SETTINGS = list(itertools.product(UNITS, LOSSES, [2, 3], [1, 2]))


def unit(name, h):
    """sigma(h) and sigma'(h) of the committee's units (theory.md section 8)."""
    if name == "erf":
        return np.vectorize(math.erf)(h / math.sqrt(2)), math.sqrt(2 / math.pi) * np.exp(-h * h / 2)
    if name == "tanh":
        return np.tanh(h), 1 - np.tanh(h) ** 2
    if name == "relu":
        return np.maximum(h, 0.0), (h > 0).astype(float)
    if name == "square":
        return h * h, 2 * h
    raise ValueError(name)


def loss(name, y, o):
    """ell(y, o) and ell_o(y, o)."""
    if name == "square":
        return 0.5 * (o - y) ** 2, o - y
    return np.logaddexp(0.0, -y * o), -y / (1 + np.exp(y * o))


def committee_sgd(X, y, V, W0, cfg, batches, langevin_noise=None, test=None):
    """The committee's SGD (theory.md eqs. 8.1 and 1.2): o = sum_k a_k sigma(h_k),
    dl/dh_k = ell_o a_k sigma'(h_k), every w_k stepped by the same optimizer; M, Q and the
    observables of w(t) at every step, and the weights at the last one."""
    n, d = X.shape
    K = W0.shape[0]
    a = np.full(K, 1 / K) if cfg.second_layer is None else np.array(cfg.second_layer)
    name = "square" if cfg.activation == "square" else cfg.effective_activation
    weight = 1 / cfg.batch if cfg.normalize_batch else 1.0
    signs = bool(np.all(np.abs(y) == 1))
    W, velocity = W0.copy(), np.zeros_like(W0)
    rows = {k: [] for k in ("M", "Q", "train_loss", "train_error", "test_loss", "test_error")}
    for t in range(cfg.steps):
        rows["M"].append(W @ V.T / d)
        rows["Q"].append(W @ W.T / d)
        sigma, slope = unit(name, X @ W.T / math.sqrt(d))
        ell, ell_o = loss(cfg.effective_loss, y, sigma @ a)
        rows["train_loss"].append(ell.mean())
        if signs:
            rows["train_error"].append(np.mean(y * (sigma @ a) <= 0))
        if test is not None:
            X_test, y_test = test
            o_test = unit(name, X_test @ W.T / math.sqrt(d))[0] @ a
            rows["test_loss"].append(loss(cfg.effective_loss, y_test, o_test)[0].mean())
            if signs:
                rows["test_error"].append(np.mean(y_test * o_test <= 0))
        if t + 1 == cfg.steps:
            break
        # sum_mu s_mu dl/dh_k(mu) x_mu / sqrt(d), one row per unit.
        grad = (batches[t][:, None] * ell_o[:, None] * a * slope).T @ X / math.sqrt(d)
        if cfg.momentum == 0:
            W = (1 - cfg.lr * cfg.lam) * W - cfg.lr * weight * grad
        else:  # torch's SGD: the ridge inside g, v <- beta v + g, along v or g + beta v
            g = cfg.lam * W + weight * grad
            velocity = cfg.momentum * velocity + g
            W = W - cfg.lr * (g + cfg.momentum * velocity if cfg.nesterov else velocity)
        if cfg.temperature > 0:
            W = W + math.sqrt(2 * cfg.lr * cfg.temperature) * langevin_noise[t]
    return {k: np.array(v) for k, v in rows.items() if v}, W


def directions(rng, k_star, d):
    """K* orthogonal rows of squared norm d."""
    return math.sqrt(d) * np.linalg.qr(rng.standard_normal((d, k_star)))[0].T


def data(rng, V, n, signs):
    """Gaussian rows and the labels of a tanh teacher along the rows of V (their signs,
    or with label noise)."""
    X = rng.standard_normal((n, V.shape[1]))
    target = np.tanh(X @ V.T / math.sqrt(V.shape[1])).mean(axis=1)
    return X, (np.where(target >= 0, 1.0, -1.0) if signs else target + 0.1 * rng.standard_normal(n))


@pytest.mark.parametrize("activation, loss_name, k, k_star", SETTINGS)
def test_committee_matches_numpy_step_by_step(activation, loss_name, k, k_star):
    index = SETTINGS.index((activation, loss_name, k, k_star))
    rng = np.random.default_rng(index)
    n, d = 40, 20
    V = directions(rng, k_star, d)
    X, y = data(rng, V, n, signs=loss_name == "logistic")
    a = dict(second_layer=(1 / math.sqrt(2), -1 / math.sqrt(2))) if k == 2 and index % 3 == 0 else {}
    lr = 0.05 if activation == "square" else 0.2
    cfg = ds.Config(hidden=k, activation=activation, loss=loss_name, lr=lr, batch=0.5, steps=25,
                    **a, **DYNAMICS[index % len(DYNAMICS)])
    W0 = 0.2 * V[0] + 0.4 * rng.standard_normal((k, d))
    mask = rng.random((cfg.steps, n)) < 0.5
    xi = rng.standard_normal((cfg.steps, k, d))
    test = data(rng, V, 30, signs=loss_name == "logistic") if index % 2 else None
    got = ds.sgd_trajectory(X, y, V if k_star > 1 else V[0], W0, cfg, batches=mask, langevin_noise=xi,
                            X_test=None if test is None else test[0], y_test=None if test is None else test[1])
    want, W_last = committee_sgd(X, y, V, W0, cfg, mask, xi, test)
    assert isinstance(got, ds.NetworkTrajectoryResult)
    assert (got.M.shape, got.Q.shape, got.W.shape) == ((25, k, k_star), (25, k, k), (k, d))
    for name, values in want.items():
        if name.endswith("error"):  # counts of misclassified samples: exactly
            np.testing.assert_array_equal(getattr(got, name), values, err_msg=name)
        else:
            np.testing.assert_allclose(getattr(got, name), values, rtol=1e-12, atol=1e-14, err_msg=name)
    np.testing.assert_allclose(got.W, W_last, rtol=1e-12, atol=1e-14)
    for name in ("train_error", "test_loss", "test_error"):
        assert (getattr(got, name) is None) == (name not in want), name
    np.testing.assert_allclose(got.t, np.arange(cfg.steps) * cfg.lr)


def test_drawn_batches_and_noise_are_those_of_the_single_unit():
    # One unit as a committee of K = 1 (w0 of shape (1, d)) is the single unit's recursion
    # on the same streams: the batch chain of `minibatch_chain` and the same increments.
    rng = np.random.default_rng(40)
    n, d = 50, 16
    V = directions(rng, 1, d)
    X, y = data(rng, V, n, signs=True)
    w0 = 0.3 * rng.standard_normal(d)
    cfg = ds.Config(lr=0.1, batch=0.4, tau=0.5, lam=0.1, temperature=0.02, steps=30)
    one = ds.sgd_trajectory(X, y, V[0], w0, cfg, seed=7)
    net = ds.sgd_trajectory(X, y, V[0], w0[None, :], cfg, seed=7)
    np.testing.assert_allclose(net.M[:, 0, 0], one.m, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(net.Q[:, 0, 0], one.q + one.m**2, rtol=1e-12)
    np.testing.assert_allclose(net.train_loss, one.train_loss, rtol=1e-12)
    np.testing.assert_array_equal(net.train_error, one.train_error)
    np.testing.assert_allclose(net.W[0], one.w, rtol=1e-12, atol=1e-14)
    # A given mask equal to the drawn one changes nothing.
    given = ds.sgd_trajectory(X, y, V[0], w0[None, :], cfg, seed=7, batches=ds.minibatch_chain(n, cfg, seed=7))
    np.testing.assert_array_equal(given.M, net.M)


@pytest.mark.parametrize("activation", UNITS)
def test_swapping_units_of_equal_weight_swaps_their_rows(activation):
    # Issue 24, check 6: the committee is symmetric under exchanging two units with the
    # same second-layer weight, so exchanging their starting weights exchanges their
    # rows of M and their rows and columns of Q at every step: exactly for K = 2 (the
    # output a sigma(h_1) + a sigma(h_2) is a sum of two terms, exact in either order),
    # to rounding for K = 3. Exchanging two teacher directions exchanges M's columns.
    rng = np.random.default_rng(9)
    n, d = 60, 24
    V = directions(rng, 2, d)
    X, y = data(rng, V, n, signs=True)
    cfg = ds.Config(loss="logistic", activation=activation, lr=0.1, batch=0.5, lam=0.05, steps=25, momentum=0.3)
    for k, second_layer, tol in ((2, (0.5, 0.5), 0.0), (3, (0.4, 0.4, 0.2), 1e-12)):
        w0 = 0.5 * rng.standard_normal((k, d))
        run = ds.sgd_trajectory(X, y, V, w0, cfg.replace(hidden=k, second_layer=second_layer), seed=3)
        swapped = ds.sgd_trajectory(X, y, V, w0[[1, 0, *range(2, k)]], cfg.replace(hidden=k, second_layer=second_layer),
                                    seed=3)
        order = [1, 0, *range(2, k)]
        np.testing.assert_allclose(swapped.M, run.M[:, order], rtol=tol, atol=tol)
        np.testing.assert_allclose(swapped.Q, run.Q[:, order][:, :, order], rtol=tol, atol=tol)
        np.testing.assert_allclose(swapped.train_loss, run.train_loss, rtol=tol, atol=tol)
        teachers_swapped = ds.sgd_trajectory(X, y, V[::-1], w0, cfg.replace(hidden=k, second_layer=second_layer),
                                             seed=3)
        np.testing.assert_array_equal(teachers_swapped.M, run.M[:, :, ::-1])


def test_what_is_recorded_follows_the_labels_and_the_test_set():
    rng = np.random.default_rng(41)
    n, d = 30, 12
    V = directions(rng, 2, d)
    X, y = data(rng, V, n, signs=False)
    cfg = ds.Config(hidden=2, activation="tanh", loss="square", lr=0.1, steps=6)
    W0 = rng.standard_normal((2, d))
    bare = ds.sgd_trajectory(X, y, V, W0, cfg)
    assert bare.train_error is None and bare.test_loss is None and bare.test_error is None
    X_test, y_test = data(rng, V, 20, signs=False)
    tested = ds.sgd_trajectory(X, y, V, W0, cfg, X_test=X_test, y_test=y_test)
    o = np.tanh(X_test @ tested.W.T / math.sqrt(d)).mean(axis=1)  # the last step's weights
    np.testing.assert_allclose(tested.test_loss[-1], np.mean(0.5 * (o - y_test) ** 2), rtol=1e-12)
    np.testing.assert_array_equal(tested.M, bare.M)
    np.testing.assert_allclose(tested.M[-1], tested.W @ V.T / d, rtol=1e-12)
    assert "hidden=2, teacher_units=2, d=12, steps=6" in repr(tested)


def test_a_committee_blow_up_is_reported():
    rng = np.random.default_rng(42)
    V = directions(rng, 1, 10)
    X, y = data(rng, V, 20, signs=False)
    cfg = ds.Config(hidden=2, activation="square", loss="square", lr=5.0, steps=50)
    with pytest.raises(ds.DivergenceError) as caught:
        ds.sgd_trajectory(X, 10 * y, V[0], rng.standard_normal((2, 10)), cfg)
    assert caught.value.run == "sgd_trajectory" and caught.value.step < 50


def test_bad_arguments_are_refused_by_name():
    rng = np.random.default_rng(43)
    n, d, k = 8, 5, 2
    V = directions(rng, 2, d)
    X, y = data(rng, V, n, signs=True)
    W0 = np.zeros((k, d))
    cfg = ds.Config(hidden=k, activation="erf", steps=3)
    bad_x = X.copy()
    bad_x[1, 2] = np.inf
    cases = [
        (dict(X=X[:, :4]), "X", r"X must have shape \(n, d\) = \(8, 5\)"),
        (dict(X=X.reshape(d, n)), "X", "X must have shape"),  # as many entries, the wrong shape
        (dict(X=bad_x), "X", "X must be finite"),
        (dict(v_star=V[None]), "v_star", r"v_star must have shape \(K\*, d\) or \(d,\)"),
        (dict(v_star=2 * V), "v_star", "normalised"),
        (dict(w0=np.zeros(d)), "w0", r"w0 must have shape \(K, d\) = \(2, 5\)"),
        (dict(w0=np.zeros((k + 1, d))), "w0", "w0 must have shape"),
        (dict(w0=np.zeros((d, k))), "w0", "w0 must have shape"),
        (dict(y=X[:, 0]), "y", "y must be ±1 for loss 'logistic'"),
        (dict(batches=np.ones((2, n), bool)), "batches", r"batches must have shape \(steps, n\)"),
        (dict(langevin_noise=np.zeros((3, d))), "langevin_noise", "must be a 3-D array"),
        (dict(langevin_noise=np.zeros((3, k, d + 1))), "langevin_noise", r"\(steps, K, d\) = \(3, 2, 5\)"),
        (dict(X_test=X), "X_test", "go together"),
        (dict(X_test=X[:, :3], y_test=y), "X_test", r"X_test must have shape \(n_test, d\)"),
        (dict(X_test=X, y_test=0.5 * y), "y_test", "must be ±1 like y"),
    ]
    for change, parameter, message in cases:
        args = {**dict(X=X, y=y, v_star=V, w0=W0, cfg=cfg), **change}
        with pytest.raises(ds.InvalidParameterError, match=message) as caught:
            ds.sgd_trajectory(**args)
        assert caught.value.parameter == parameter, change
    with pytest.raises(TypeError, match="batches must be a boolean array") as caught:
        ds.sgd_trajectory(X, y, V, W0, cfg, batches=np.ones((3, n)))
    assert caught.value.parameter == "batches"
