"""The model family (theory.md sections 1-3 and 6): teacher-student data, phase retrieval,
Langevin noise and normalised batches, checked against the exact d -> infinity solution of
square-loss GD, the finite-d simulation, a numpy SGD and the equilibrium FDT.

DMFT error bars are the spread of its 8 independent groups (7 degrees of freedom); the
tolerances are multiples of the combined standard error."""

import math

import numpy as np
import pytest

import dmft_sgd as ds
import reference
from exact_teacher import teacher_gd_exact

TEACHER_GD = {
    "alpha below 1": dict(alpha=0.5, lam=0.1, lr=0.2, m0=0.0, steps=60),
    "alpha above 1, no ridge": dict(alpha=2.0, lam=0.0, lr=0.1, m0=0.0, steps=60),
    # The default workload of the published teacher-student DMFT code.
    "alpha=3, lambda=0.5, m0=0.2": dict(alpha=3.0, lam=0.5, lr=0.1, m0=0.2, steps=50),
}


@pytest.mark.parametrize("name", list(TEACHER_GD))
def test_teacher_gd_matches_the_exact_marchenko_pastur_solution(name):
    p = TEACHER_GD[name]
    cfg = ds.Config(data="teacher", teacher="linear", loss="square", q0=1.0, **p)
    result = ds.solve_dmft(cfg, samples=20_000, seed=1)
    exact = teacher_gd_exact(p["alpha"], p["lam"], p["lr"], p["m0"], 1.0, p["steps"])
    for obs in ("m", "q", "train_loss", "test_loss"):
        gap = np.abs(result.mean(obs) - exact[obs])
        # Step 0 is exact (m0, q0 given); 5 standard errors of a 7-dof estimate.
        assert np.all(gap[1:] <= 5 * result.sem(obs)[1:] + 1e-12), (obs, np.max(gap / result.sem(obs)))
    # The DMFT starts where the exact solution does.
    assert result.m[0] == p["m0"] and result.q[0] == 1.0
    assert result.test_error is None and result.train_error is None


SETTINGS = {
    "linear teacher, label noise, plain SGD": dict(
        data="teacher", teacher="linear", loss="square", noise=0.5, lam=0.1, lr=0.1, batch=0.3, steps=60),
    "linear teacher, label noise, plain SGD, normalized batch": dict(
        data="teacher", teacher="linear", loss="square", noise=0.5, lam=0.1, lr=0.05, batch=0.3,
        normalize_batch=True, steps=80),
    "sign teacher, logistic, persistent SGD": dict(
        data="teacher", teacher="sign", noise=0.1, lam=0.05, lr=0.1, batch=0.3, tau=1.0, steps=80),
    "phase retrieval, GD": dict(
        data="teacher", teacher="square", loss="square", alpha=4.0, lr=0.02, m0=0.3, steps=150),
    "phase retrieval, persistent SGD": dict(
        data="teacher", teacher="square", loss="square", alpha=4.0, lr=0.02, batch=0.5, tau=0.5,
        m0=0.3, steps=150),
    "Langevin, mixture": dict(temperature=0.05, lam=0.1, lr=0.1, steps=60),
    "Langevin, linear teacher, SGD": dict(
        data="teacher", teacher="linear", loss="square", temperature=0.1, lam=0.1, lr=0.1, batch=0.5,
        steps=60),
}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_dmft_matches_the_finite_d_simulation(name):
    cfg = ds.Config(**{"alpha": 2.0, **SETTINGS[name]})
    _, _, checked = reference.assert_dmft_matches_simulation(cfg)
    assert len(checked) == (6 if cfg.classifies else 4)


NUMPY_SETTINGS = {
    "linear teacher, noise, normalized plain SGD": dict(
        data="teacher", teacher="linear", loss="square", noise=0.3, batch=0.4, normalize_batch=True),
    "sign teacher, logistic, Langevin persistent SGD": dict(
        data="teacher", teacher="sign", noise=0.2, batch=0.5, tau=0.3, temperature=0.1),
    "phase retrieval, GD, Langevin": dict(
        data="teacher", teacher="square", loss="square", temperature=0.05),
    "mixture, Langevin, normalized batch": dict(batch=0.5, normalize_batch=True, temperature=0.2),
}


@pytest.mark.parametrize("name", list(NUMPY_SETTINGS))
def test_sgd_trajectory_matches_numpy_step_by_step(name):
    cfg = ds.Config(alpha=2.0, lam=0.05, lr=0.05, steps=40, **NUMPY_SETTINGS[name])
    rng = np.random.default_rng(list(NUMPY_SETTINGS).index(name))
    d, n = 30, 60
    X, y, v = (reference.teacher if cfg.data == "teacher" else reference.mixture)(cfg, d, n, rng)
    w0 = 0.2 * v + rng.standard_normal(d)
    xi = rng.standard_normal((cfg.steps, d))
    mask = ds.minibatch_chain(n, cfg, seed=5)
    X_test, y_test, _ = (reference.teacher if cfg.data == "teacher" else reference.mixture)(cfg, d, 40, rng, v)
    got = ds.sgd_trajectory(X, y, v, w0, cfg, seed=5, langevin_noise=xi, X_test=X_test, y_test=y_test)
    want, _ = reference.sgd(X, y, v, w0, cfg, mask, langevin_noise=xi, test=(X_test, y_test))
    assert {"m", "train_loss", "test_loss"} <= set(want) and ("test_error" in want) == cfg.classifies
    for obs, values in want.items():
        np.testing.assert_allclose(getattr(got, obs), values, rtol=1e-10, atol=1e-12, err_msg=obs)
    # Drawn increments: a temperature changes the run, and the seed decides them.
    drawn = ds.sgd_trajectory(X, y, v, w0, cfg, seed=5)
    assert np.array_equal(drawn.m, got.m) == (cfg.temperature == 0)
    np.testing.assert_array_equal(ds.sgd_trajectory(X, y, v, w0, cfg, seed=5).m, drawn.m)
    with pytest.raises(ValueError, match=r"langevin_noise must have shape \(steps, d\)"):
        ds.sgd_trajectory(X, y, v, w0, cfg, langevin_noise=xi[1:])


@pytest.mark.parametrize("teacher,loss,activation", [
    ("sign", "logistic", "linear"), ("sign", "square", "door"), ("square", "square", "door"),
    ("linear", "square", "door"),
])
def test_test_loss_and_error_against_monte_carlo(teacher, loss, activation):
    # A fresh sample seen by a student with overlap m and q: h = m h0 + sqrt(q) z.
    cfg = ds.Config(data="teacher", teacher=teacher, loss=loss, activation=activation, noise=0.3,
                    threshold=0.5 if activation == "door" else None, steps=1, m0=0.6, q0=0.4)
    result = ds.solve_dmft(cfg, samples=64, seed=0, groups=1)  # step 0: m = m0, q = q0
    rng = np.random.default_rng(7)
    n = 400_000
    h0, z, eps = rng.standard_normal((3, n))
    h = 0.6 * h0 + math.sqrt(0.4) * z
    noisy = {"linear": h0 + math.sqrt(0.3) * eps, "sign": np.sign(h0 + math.sqrt(0.3) * eps),
             "square": h0**2 + math.sqrt(0.3) * eps}[teacher]
    ell, _, o = reference.loss_and_slope(cfg, noisy, h)
    assert abs(result.test_loss[0] - ell.mean()) < 4 * ell.std() / math.sqrt(n)
    if teacher == "sign":
        wrong = (noisy * o <= 0).astype(float)
        assert abs(result.test_error[0] - wrong.mean()) < 4 * wrong.std() / math.sqrt(n)
    else:
        assert result.test_error is None


def test_regression_results_have_no_classification_errors():
    cfg = ds.Config(data="teacher", teacher="linear", loss="square", batch=0.5, steps=20)
    dmft = ds.solve_dmft(cfg, samples=2000, seed=0)
    sim = ds.simulate(cfg, d=100, replicas=3, seed=0)
    for result in (dmft, sim):
        assert result.train_error is None and result.test_error is None
        for name in ("train_error", "test_error"):
            with pytest.raises(ValueError, match=f"{name} is not defined for teacher='linear'"):
                result.sem(name)
        assert np.all(np.isfinite(result.mean("test_loss")))
    assert dmft.test_error_sem is None and np.all(dmft.test_loss_sem[1:] > 0)


def test_regression_results_round_trip(tmp_path):
    cfg = ds.Config(data="teacher", teacher="square", loss="square", steps=10, lr=0.02)
    for result in (ds.solve_dmft(cfg, samples=2000, seed=0), ds.simulate(cfg, d=50, replicas=2, seed=0)):
        back = ds.load(result.save(tmp_path / "r.npz"))
        assert back.config == cfg and back.test_error is None
        np.testing.assert_array_equal(back.test_loss, result.test_loss)


def test_three_clusters_and_phase_retrieval_keep_m_zero_from_m0_zero():
    # The mirror pair (h0, eps) -> (-h0, eps) keeps the label of the square teacher, so
    # m = 0 is a fixed point the DMFT keeps exactly (theory.md section 3).
    cfg = ds.Config(data="teacher", teacher="square", loss="square", m0=0.0, lr=0.02, steps=30)
    assert ds.Config(data="teacher", teacher="square", loss="square").effective_m0 == 0.1
    assert np.all(ds.solve_dmft(cfg, samples=2000, seed=0).m == 0.0)


@pytest.mark.parametrize("lr", [0.1, 0.05])
def test_langevin_gd_reaches_the_equilibrium_fdt(lr):
    # Langevin GD on a strongly convex problem (square loss, ridge 0.5) is in equilibrium
    # by t_w = 10: chi = dC / T_eff with T_eff = temperature (1 + O(lr)). For the pure
    # ridge term the discrete chain gives T_eff = T / (1 - lr lambda / 2) exactly.
    temperature = 0.2
    cfg = ds.Config(data="teacher", teacher="linear", loss="square", alpha=2.0, lam=0.5,
                    temperature=temperature, lr=lr, steps=int(round(20 / lr)))
    result = ds.solve_dmft(cfg, samples=8000, seed=1)
    curve = ds.fdt(result, 10.0)
    assert curve.t[0] == pytest.approx(10.0) and curve.chi[0] == 0 and curve.dC[0] == 0
    deviation = curve.effective_temperature / temperature - 1
    # Measured: 0.10 at lr = 0.1 and 0.050 at lr = 0.05 (first order in lr).
    assert 0 < deviation < 1.2 * lr, deviation
    # Along the whole curve, not only in the fit.
    np.testing.assert_allclose(curve.chi[1:] * curve.effective_temperature, curve.dC[1:], rtol=0.05)


def test_fdt_of_the_weight_process_without_kernels_is_the_discrete_ornstein_uhlenbeck():
    # alpha -> tiny: the data barely act, w is the chain w' = (1 - lr lam) w + sqrt(2 lr T) xi.
    lr, lam, temperature = 0.1, 1.0, 0.3
    cfg = ds.Config(data="teacher", teacher="linear", loss="square", alpha=1e-3, lam=lam,
                    temperature=temperature, lr=lr, steps=300)
    curve = ds.fdt(ds.solve_dmft(cfg, samples=200, seed=0), 20.0)
    assert curve.effective_temperature == pytest.approx(temperature / (1 - lr * lam / 2), rel=2e-3)


def test_fdt_checks_its_arguments():
    result = ds.solve_dmft(ds.Config(steps=20), samples=200, seed=0)
    with pytest.raises(ValueError, match="t_w must be in"):
        ds.fdt(result, 5.0)
    with pytest.raises(TypeError, match="result must be a DMFTResult"):
        ds.fdt(ds.simulate(ds.Config(steps=5), d=10, replicas=2), 0.1)


def test_a_negative_fdt_slope_gives_nan_and_says_why():
    # From q0 = 10 with a strong ridge, C(t,t) falls faster than C(t,0): dC < 0 while the
    # response chi > 0, a transient that defines no temperature.
    result = ds.solve_dmft(ds.Config(q0=10.0, lam=1.0, steps=30), samples=200, seed=0)
    with pytest.warns(RuntimeWarning, match=r"fdt\(t_w=0\): chi against dC has slope -0.3\d* <= 0 \(a transient\?\)"):
        curve = ds.fdt(result, 0.0)
    assert np.isnan(curve.effective_temperature)
    assert np.all(curve.dC[1:] < 0) and np.all(curve.chi[1:] > 0)


def test_plot_fdt_draws_a_picture(tmp_path):
    pytest.importorskip("matplotlib")
    from dmft_sgd.plot import plot_fdt, save_figure
    from test_cli import png_size

    cfg = ds.Config(data="teacher", teacher="linear", loss="square", lam=0.5, temperature=0.1, steps=60)
    path = save_figure(plot_fdt([ds.solve_dmft(cfg, samples=1000, seed=0)], 3.0), tmp_path / "fdt.png")
    width, height = png_size(path)
    assert width >= 500 and height >= 400


def test_a_sweep_across_teachers_gives_nan_where_an_error_is_undefined():
    base = ds.Config(data="teacher", loss="square", steps=10)
    result = ds.sweep(base, {"teacher": ["sign", "linear"]}, samples=400)
    errors = result.array("test_error")
    assert np.isfinite(errors[0]) and np.isnan(errors[1])
    assert np.all(np.isfinite(result.array("test_loss")))
    only_linear = ds.sweep(base.replace(teacher="linear"), {"lam": [0.0, 0.1]}, samples=400)
    with pytest.raises(ValueError, match="test_error is not defined for teacher='linear'"):
        only_linear.array("test_error")
