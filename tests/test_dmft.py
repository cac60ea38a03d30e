"""The DMFT solver against the finite-d simulation, the replica ERM values, its own
iterative form, the dt -> 0 limit and the exact linear dynamics of square-loss GD.

Tolerances are multiples of standard errors: the simulation's over replicas, and the
DMFT's from the spread of independent solves (seeds), which includes how the Monte Carlo
noise of the kernels propagates through m, C and R."""

import math

import numpy as np
import pytest

import dmft_sgd as ds
import reference

OBS = ds.OBSERVABLES


def dmft_mean_sem(cfg, samples, seeds, **kwargs):
    """Mean and standard error over independent solves."""
    runs = [ds.solve_dmft(cfg, samples=samples, seed=s, **kwargs) for s in range(seeds)]
    out = {}
    for name in OBS:
        values = np.array([getattr(r, name) for r in runs])
        out[name] = (values.mean(axis=0), values.std(axis=0, ddof=1) / math.sqrt(seeds))
    return out, runs


SETTINGS = {
    "two clusters, logistic, GD, ridge": dict(loss="logistic", lam=0.1, lr=0.2, steps=60),
    "two clusters, logistic, plain SGD, no ridge": dict(loss="logistic", lr=0.2, batch=0.3, steps=60),
    "two clusters, square loss, plain SGD": dict(loss="square", lam=0.05, lr=0.1, batch=0.5, steps=60),
    "persistent SGD, tau >> lr": dict(loss="logistic", lam=0.05, lr=0.1, batch=0.3, tau=2.0, steps=80),
    "three clusters, door, logistic, SGD": dict(
        clusters=3, rho=0.6, loss="logistic", lam=0.02, lr=0.1, batch=0.5, m0=0.5, q0=0.5, steps=60,
    ),
    # Long GD: the field's covariance becomes numerically singular (Cholesky pivots).
    "three clusters, door, logistic, GD, long": dict(
        clusters=3, rho=0.6, alpha=3.0, delta=0.1, lam=0.01, lr=0.1, m0=0.2, q0=0.5, steps=200,
    ),
    "three clusters, door, square loss, GD": dict(
        clusters=3, rho=0.6, loss="square", lr=0.05, m0=0.5, q0=0.5, steps=60,
    ),
}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_dmft_matches_the_finite_d_simulation(name):
    cfg = ds.Config(**{"alpha": 2.0, "delta": 0.5, **SETTINGS[name]})
    d, replicas = 1000, 16
    sim = ds.simulate(cfg, d=d, replicas=replicas, seed=11)
    theory, _ = dmft_mean_sem(cfg, samples=4000, seeds=8)
    for obs in OBS:
        reference.assert_close_to_simulation(obs, *theory[obs], sim, d)


@pytest.mark.parametrize("response", ["tangent", "probe"])
@pytest.mark.parametrize(
    "loss,lr,steps,test_error,train_loss",
    [("square", 0.4, 150, 0.156292, 0.086729), ("logistic", 1.0, 120, 0.116602, 0.175196)],
)
def test_long_time_gd_reaches_the_replica_erm_values(loss, lr, steps, test_error, train_loss, response):
    # theory.md section 7: two clusters, alpha=2, Delta=0.5, lambda=0.1, b=1.
    cfg = ds.Config(alpha=2.0, delta=0.5, lam=0.1, loss=loss, lr=lr, steps=steps)
    theory, runs = dmft_mean_sem(cfg, samples=4000, seeds=6, response=response)
    for r in runs:  # converged in time; the probe's fresh noise every step leaves a jitter
        drift = abs(r.test_error[-1] - r.test_error[-10])
        assert drift < (1e-5 if response == "tangent" else 0.2 * r.sem("test_error")[-1]), drift
    for obs, exact in [("test_error", test_error), ("train_loss", train_loss)]:
        mean, sem = theory[obs]
        assert abs(mean[-1] - exact) < 4.5 * sem[-1], (obs, mean[-1], sem[-1], exact)


def test_single_pass_and_iteration_agree():
    cfg = ds.Config(alpha=2.0, delta=0.5, lam=0.1, lr=0.2, batch=0.5, steps=25)
    single, _ = dmft_mean_sem(cfg, samples=2000, seeds=6)
    iterated, runs = dmft_mean_sem(
        cfg, samples=2000, seeds=6, method="iterate", iterations=40, damping=0.3, tol=1e-9
    )
    for r in runs:
        # From zero kernels (change 1) down to the Monte Carlo level, where it stops (tol
        # is out of reach: fresh samples every round keep the change near its noise).
        assert r.changes[0] == 1.0 and r.converged and r.changes.size < 40
        assert r.changes[-1] <= r.change_noise[-1] < 0.15
    for obs in OBS:
        (a, sa), (b, sb) = single[obs], iterated[obs]
        assert np.all(np.abs(a - b) <= 5 * np.sqrt(sa**2 + sb**2) + 1e-12), obs


def test_iteration_stops_at_its_monte_carlo_noise():
    # The default tol = 1e-3 is below the Monte Carlo noise of the kernel change (~0.05 at
    # S = 20000): the iteration stops at the first round whose change is no larger than
    # the noise the groups measure, and says it converged.
    cfg = ds.Config(batch=0.3, steps=50)
    r = ds.solve_dmft(cfg, seed=1, method="iterate", iterations=30)
    assert r.converged and r.changes.size < 15, r.changes
    assert r.change_noise.shape == r.changes.shape
    assert 0.01 < r.change_noise[-1] < 0.2 and r.changes[-1] <= r.change_noise[-1]
    assert np.all(r.changes[:-1] > r.change_noise[:-1])  # it stopped at the first
    single = ds.solve_dmft(cfg, seed=2)
    se = np.hypot(r.sem("test_error"), single.sem("test_error"))
    assert np.all(np.abs(r.test_error - single.test_error) <= 5 * se + 1e-12)


@pytest.mark.parametrize("kwargs", [dict(iterations=2), dict(iterations=30, groups=1)])
def test_an_unconverged_iteration_warns(kwargs):
    # Two rounds are too few; one group has no noise estimate, so only tol can stop it.
    cfg = ds.Config(batch=0.3, steps=20)
    with pytest.warns(RuntimeWarning, match="stopped unconverged after"):
        r = ds.solve_dmft(cfg, samples=2000, method="iterate", **kwargs)
    assert not r.converged and r.changes.size == kwargs["iterations"]
    assert r.change_noise.size == (0 if r.groups == 1 else r.changes.size)


def test_dt_to_zero_converges_at_first_order():
    # GD at fixed physical time t = 3: errors of a first-order scheme halve with dt.
    values = {}
    for lr in (0.2, 0.1, 0.05):
        cfg = ds.Config(alpha=2.0, delta=0.5, lam=0.1, lr=lr, steps=round(3 / lr) + 1)
        r = ds.solve_dmft(cfg, samples=20_000, seed=3)
        values[lr] = np.array([r.m[-1], r.q[-1], r.test_error[-1]])
    coarse = np.abs(values[0.2] - values[0.1])
    fine = np.abs(values[0.1] - values[0.05])
    assert np.all(fine < 0.7 * coarse), (coarse, fine)
    assert np.all(fine > 0.3 * coarse), (coarse, fine)


def test_square_loss_gd_matches_the_exact_linear_dynamics():
    # Square loss GD is linear in w: w(k) = w* + A^k (w0 - w*) with
    # A = (1 - dt lam) - dt X^T X / d and w* = (X^T X / d + lam)^-1 X^T y / sqrt(d).
    cfg = ds.Config(alpha=1.5, delta=0.4, lam=0.2, loss="square", lr=0.2, steps=40)
    d, replicas = 600, 12
    rng = np.random.default_rng(5)
    traces = {name: [] for name in ("m", "q", "test_error")}
    for _ in range(replicas):
        X, y, v = reference.mixture(cfg, d, round(cfg.alpha * d), rng)
        w0 = math.sqrt(cfg.q0) * rng.standard_normal(d)
        gram = X.T @ X / d
        evals, V = np.linalg.eigh(gram)
        w_star = V @ ((V.T @ (X.T @ y / math.sqrt(d))) / (evals + cfg.lam))
        z0 = V.T @ (w0 - w_star)
        growth = 1 - cfg.lr * (cfg.lam + evals)
        for k in range(cfg.steps):
            w = w_star + V @ (growth**k * z0)
            m = w @ v / d
            q = w @ w / d - m * m
            traces["m"].append(m)
            traces["q"].append(q)
            traces["test_error"].append(reference.test_error(cfg, m, q))
    theory, _ = dmft_mean_sem(cfg, samples=4000, seeds=6, response_samples=200)
    for name, values in traces.items():
        values = np.array(values).reshape(replicas, cfg.steps)
        mean, sem_exact = values.mean(0), values.std(0, ddof=1) / math.sqrt(replicas)
        dmean, dsem = theory[name]
        assert np.all(np.abs(mean - dmean) <= 5 * np.sqrt(sem_exact**2 + dsem**2) + 1 / d), name


def test_three_clusters_with_zero_overlap_stay_at_zero():
    # m = 0 is a fixed point (E[u f] = 0 by symmetry); mirror pairs make it exact.
    cfg = ds.Config(clusters=3, m0=0.0, lr=0.1, batch=0.5, steps=30)
    r = ds.solve_dmft(cfg, samples=2000, seed=0)
    assert np.all(r.m == 0.0) and np.all(r.mu == 0.0)
    assert np.all(np.isfinite(r.q)) and r.q[-1] != r.q[0]


@pytest.mark.parametrize(
    "changes",
    [dict(batch=1.0), dict(batch=0.25, tau=0.4), dict(q0=1e-8, m0=0.2), dict(lam=0.0, loss="square")],
    ids=["gd", "tau=lr/b", "tiny q0", "no ridge"],
)
def test_edge_cases_give_finite_consistent_results(changes):
    cfg = ds.Config(lr=0.1, steps=30, **changes)
    r = ds.solve_dmft(cfg, samples=1000, seed=1)
    for name in ("m", "q", "train_loss", "train_error", "test_error", "C", "R", "M_C", "M_R"):
        assert np.all(np.isfinite(getattr(r, name))), name
    np.testing.assert_allclose(np.diag(r.C), r.q)
    np.testing.assert_allclose(r.C, r.C.T)
    assert np.all(np.diag(r.R, k=-1) == 1.0) and np.all(np.triu(r.R) == 0.0)
    assert r.q[0] == cfg.q0 and r.m[0] == cfg.effective_m0
    assert np.all(r.q >= 0) and np.all((0 <= r.test_error) & (r.test_error <= 1))


def test_plain_sgd_with_explicit_tau_equals_the_default():
    a = ds.solve_dmft(ds.Config(lr=0.1, batch=0.25, steps=20), samples=500, seed=4)
    b = ds.solve_dmft(ds.Config(lr=0.1, batch=0.25, tau=0.4, steps=20), samples=500, seed=4)
    np.testing.assert_array_equal(a.C, b.C)


def test_response_subsample_is_close_to_the_full_response():
    cfg = ds.Config(lam=0.1, lr=0.2, batch=0.5, steps=30)
    full = ds.solve_dmft(cfg, samples=8000, seed=2)
    sub = ds.solve_dmft(cfg, samples=8000, seed=2, response_samples=2000)
    assert sub.response_samples == 2000
    # Same samples, M_R from a quarter of them: m and q move by Monte Carlo amounts.
    assert np.abs(sub.m - full.m).max() < 0.02 and np.abs(sub.q - full.q).max() < 0.02


def test_same_seed_same_numbers_for_every_thread_count():
    cfg = ds.Config(lr=0.2, batch=0.3, steps=25)
    runs = [ds.solve_dmft(cfg, samples=1000, seed=9, threads=t) for t in (1, 2, 3)]
    for other in runs[1:]:
        for name in ("m", "C", "R", "M_C", "M_R", "train_loss"):
            np.testing.assert_array_equal(getattr(runs[0], name), getattr(other, name))


def test_every_observable_has_an_error_bar():
    r = ds.solve_dmft(ds.Config(lr=0.2, batch=0.5, steps=10), samples=2000, seed=0)
    assert r.groups == 8
    for name in OBS:
        sem = r.sem(name)
        assert sem.shape == (10,) and np.all(np.isfinite(sem))
        # Of order sd/sqrt(S) for an O(1) spread; m and q start from fixed values.
        assert np.all(sem < 0.05), name
    assert r.sem("m")[0] == 0.0 and np.all(r.sem("m")[1:] > 0) and np.all(r.sem("train_loss") > 0)
    one = ds.solve_dmft(ds.Config(lr=0.2, batch=0.5, steps=10), samples=2000, seed=0, groups=1)
    with pytest.raises(ValueError, match="sem needs groups >= 2"):
        one.sem("m")


def test_divergence_is_reported():
    with pytest.raises(ds.DivergenceError, match=r"DMFT diverged at step \d+.*smaller lr"):
        ds.solve_dmft(ds.Config(loss="square", lr=3.0, steps=300), samples=200)


@pytest.mark.parametrize(
    "kwargs,exc,msg",
    [
        (dict(samples=101), ValueError, "samples must be an even number >= 2"),
        (dict(samples=0), ValueError, "samples must be an even number >= 2"),
        (dict(samples=-2), ValueError, "samples must be an even number >= 2"),
        (dict(samples=100, response_samples=200), ValueError, r"response_samples must be in \[2 groups = 16, samples = 100\]"),
        (dict(method="newton"), ValueError, "method must be 'single' or 'iterate'"),
        (dict(response=3), TypeError, "response"),
        (dict(method="iterate", damping=1.0), ValueError, r"damping must be in \[0, 1\)"),
        (dict(method="iterate", iterations=0), ValueError, "iterations must be >= 1"),
        (dict(threads=0), ValueError, "threads must be >= 1"),
        (dict(seed=-1), ValueError, "seed must be >= 0"),
    ],
)
def test_bad_arguments_are_named(kwargs, exc, msg):
    args = {"samples": 100, **kwargs}
    with pytest.raises(exc, match=msg):
        ds.solve_dmft(ds.Config(steps=3), **args)


def test_save_and_load_round_trip(tmp_path):
    with pytest.warns(RuntimeWarning, match="unconverged"):
        r = ds.solve_dmft(ds.Config(clusters=3, steps=8), samples=200, seed=5, method="iterate", iterations=3)
    back = ds.load(r.save(tmp_path / "dmft.npz"))
    assert isinstance(back, ds.DMFTResult) and back.config == r.config
    assert (back.samples, back.seed, back.method, back.converged) == (200, 5, "iterate", r.converged)
    for name in ("t", *OBS, "C", "R", "M_C", "M_R", "mu", "changes", "change_noise", "train_loss_sem", "m_sem"):
        np.testing.assert_array_equal(getattr(back, name), getattr(r, name))


def test_to_dataframe_is_tidy_with_the_error_bars():
    pd = pytest.importorskip("pandas")
    cfg = ds.Config(data="teacher", teacher="linear", noise=0.2, steps=6)
    res = ds.solve_dmft(cfg, samples=400, seed=1)
    df = res.to_dataframe()
    assert list(df.columns) == ["t", "observable", "value", "sem"]
    assert len(df) == 4 * 6 and set(df.observable) == {"m", "q", "train_loss", "test_loss"}
    q = df[df.observable == "q"]
    np.testing.assert_array_equal(q.t, res.t)
    np.testing.assert_array_equal(q.value, res.q)
    np.testing.assert_array_equal(q["sem"], res.sem("q"))
    sim = ds.simulate(ds.Config(steps=5), d=20, replicas=3, seed=0)
    rows = sim.to_dataframe().set_index(["observable", "t"])
    np.testing.assert_array_equal(rows.loc["test_error"].value, sim.mean("test_error"))
    np.testing.assert_array_equal(rows.loc["test_error"]["sem"], sim.sem("test_error"))
    one = ds.solve_dmft(ds.Config(steps=3), samples=100, groups=1).to_dataframe()
    assert len(one) == 6 * 3 and one["sem"].isna().all()
    assert isinstance(one, pd.DataFrame)
