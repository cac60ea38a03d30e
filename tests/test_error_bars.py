"""Error bars that can be trusted (theory.md section 4.4): over many independent seeds,
the spread of each DMFT observable matches the standard error each solve reports.

With 40 seeds the spread (sd over seeds) is itself known to ~1/sqrt(2*39) = 11%, and each
reported sem (8 groups, 7 degrees of freedom) to ~27%, averaged here over 40 solves. The
bounds asked of the project: the pooled ratio spread/sem within [0.8, 1.25] and no single
ratio outside [0.5, 2].

The two-time quantities (C, R, the kernels; issue 19) and fdt's effective temperature are
checked the same way below, with 100 seeds of runs small enough to take about 1 s in all;
before that, that their error bars are what the groups' spread says."""

import numpy as np
import pytest

import dmft_sgd as ds

SEEDS = 40


def ratios(cfg, samples, **kwargs):
    runs = [ds.solve_dmft(cfg, samples=samples, seed=s, **kwargs) for s in range(SEEDS)]
    T = cfg.steps
    out = {}
    for name in ds.OBSERVABLES:
        values = np.array([r.mean(name) for r in runs])
        sems = np.array([r.sem(name) for r in runs])
        for k in (T // 10, T // 2, T - 1):  # early and late times (k = 0 is exact)
            out[(name, k)] = values[:, k].std(ddof=1) / sems[:, k].mean()
    return out


@pytest.mark.slow
@pytest.mark.parametrize(
    "changes,samples,response",
    [
        (dict(lr=0.2, batch=0.3, lam=0.1, steps=100), 4000, "tangent"),
        (dict(lr=0.05, batch=0.3, tau=1.0, lam=0.1, steps=600), 2000, "probe"),
    ],
    ids=["plain SGD, tangent", "persistent SGD, probe, T=600"],
)
def test_reported_errors_match_the_spread_over_seeds(changes, samples, response):
    cfg = ds.Config(alpha=2.0, delta=0.5, **changes)
    r = ratios(cfg, samples, response=response)
    values = np.array(list(r.values()))
    pooled = np.sqrt(np.mean(values**2))
    assert 0.8 <= pooled <= 1.25, r
    worst = max(r, key=lambda key: abs(np.log(r[key])))
    assert 0.5 <= r[worst] <= 2.0, (worst, r[worst])


# --- The two-time quantities' error bars (issue 19): what the result holds -------------

SMALL = ds.Config(alpha=2.0, delta=0.5, lam=0.1, lr=0.2, batch=0.3, steps=20)


def _sem_of(groups):
    return groups.std(axis=0, ddof=1) / np.sqrt(groups.shape[0])


def test_two_time_sems_are_the_spread_of_the_groups():
    res = ds.solve_dmft(SMALL, samples=800, seed=3)
    G, T = res.groups, SMALL.steps
    assert res.C_groups.shape == res.R_groups.shape == (G, T, T)
    for name in ("C", "R"):
        groups = res.group_values(name)
        np.testing.assert_allclose(groups.mean(axis=0), res.mean(name), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(_sem_of(groups), res.sem(name), rtol=1e-10, atol=1e-15)
        assert res.sem(name) is getattr(res, f"{name}_sem")
    for name in ds.OBSERVABLES:
        groups = res.group_values(name)
        assert groups.shape == (G, T)
        np.testing.assert_allclose(groups.mean(axis=0), res.mean(name), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(_sem_of(groups), res.sem(name), rtol=1e-10, atol=1e-15)
    assert res.sem("M_C").shape == res.sem("M_R").shape == (T, T) and res.sem("mu").shape == (T,)
    # Exact entries have no error: C(0,0) = q0, R(k+1,k) = 1 and R on and above the diagonal.
    assert res.sem("C")[0, 0] == 0 and np.all(np.diag(res.sem("R"), -1) == 0)
    assert np.all(np.triu(res.sem("R")) == 0) and np.all(res.sem("C")[1:, 1:] > 0)
    assert np.all(res.sem("M_C")[np.tril_indices(T)] > 0)
    ds_ = res.to_xarray()
    for name in ("C", "R", "M_C", "M_R", "mu"):
        np.testing.assert_array_equal(ds_[f"{name}_sem"].values, res.sem(name))
    assert ds_["C_sem"].dims == ("t", "t_prime") and ds_["mu_sem"].dims == ("t",)


def test_which_error_bars_a_solve_keeps():
    # Default: each group's C and R while groups * T^2 <= 1e7 (here 8 x 20^2).
    assert ds.solve_dmft(SMALL, samples=400).C_groups is not None
    assert ds.solve_dmft(SMALL, samples=400, keep_groups=False).C_groups is None
    from dmft_sgd import dmft

    assert dmft.default_groups(SMALL.replace(steps=1118), 20_000, None, None) * 1118**2 <= dmft.KEEP_GROUPS_ENTRIES
    assert 8 * 1119**2 > dmft.KEEP_GROUPS_ENTRIES
    assert dmft.default_groups(SMALL.replace(steps=4001), 20_000, None, None) == 4
    assert dmft.default_groups(SMALL, 6, None, None) == 3 and dmft.default_groups(SMALL, 6, None, 4) == 2
    lean = ds.solve_dmft(SMALL, samples=400, keep_kernels=False, keep_groups=False)
    assert lean.M_C_sem is None and lean.mu_sem is None and lean.C_sem is not None
    with pytest.raises(ValueError, match=r"M_C was not kept: solve with keep_kernels=True"):
        lean.sem("M_C")
    with pytest.raises(ValueError, match=r"each group's R was not kept: solve with keep_groups=True"):
        lean.group_values("R")
    one = ds.solve_dmft(SMALL, samples=400, groups=1)
    assert one.C_sem is None and one.C_groups is None and one.group_values("m").shape == (1, 20)
    with pytest.raises(ValueError, match="sem needs groups >= 2"):
        one.sem("C")
    with pytest.raises(ValueError, match=r"name must be one of .* or of the two-time quantities"):
        one.sem("Q")
    with pytest.raises(TypeError, match="keep_groups must be a bool or None"):
        ds.solve_dmft(SMALL, samples=400, keep_groups="yes")
    regression = ds.solve_dmft(ds.Config(data="teacher", teacher="linear", loss="square", steps=5), samples=40)
    assert set(regression.group_observables) == {"m", "q", "train_loss", "test_loss"}
    with pytest.raises(ValueError, match="not defined for teacher='linear'"):
        regression.group_values("test_error")


# --- fdt's error bars -------------------------------------------------------------------

LANGEVIN = ds.Config(data="teacher", teacher="linear", loss="square", lam=0.5, temperature=0.1, lr=0.05,
                     steps=80)


def test_fdt_errors_are_the_spread_of_the_groups_curves_and_temperatures():
    res = ds.solve_dmft(LANGEVIN.replace(batch=0.5), samples=800, seed=1)
    curve = ds.fdt(res, 2.0)
    k_w, G = 40, res.groups
    chis = LANGEVIN.lr * res.R_groups[:, k_w:, k_w:].sum(axis=2)
    dCs = np.array([np.diag(c)[k_w:] - c[k_w:, k_w] for c in res.C_groups])
    np.testing.assert_allclose(curve.chi_sem, _sem_of(chis), rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(curve.dC_sem, _sem_of(dCs), rtol=1e-12, atol=1e-18)
    temperatures = (dCs**2).sum(axis=1) / (chis * dCs).sum(axis=1)
    assert curve.effective_temperature_sem == pytest.approx(temperatures.std(ddof=1) / np.sqrt(G), rel=1e-12)
    assert np.all(curve.chi_sem[2:] > 0) and np.all(curve.dC_sem[1:] > 0) and curve.chi_sem[0] == 0
    # The temperature of the mean curve is close to the mean of the groups' (both
    # estimate the same; the difference is second order in the noise).
    assert abs(temperatures.mean() - curve.effective_temperature) < curve.effective_temperature_sem
    # A schedule: each step's own dt (the same formula, weighted).
    sched = ds.solve_dmft(LANGEVIN.replace(lr=(0.05,) * 40 + (0.025,) * 40), samples=400, seed=1)
    c = ds.fdt(sched, 2.0)
    chis = sched.R_groups[:, 40:, 40:] @ np.asarray(sched.config.lr)[40:]
    np.testing.assert_allclose(c.chi_sem, _sem_of(chis), rtol=1e-12, atol=1e-18)
    assert np.isfinite(c.effective_temperature_sem)


def test_fdt_errors_are_nan_without_the_groups_and_say_why(tmp_path):
    lean = ds.solve_dmft(LANGEVIN, samples=400, seed=0, keep_groups=False)
    with pytest.warns(RuntimeWarning, match=r"fdt\(t_w=2\): the result holds no group's C and R .* "
                                            r"solve with keep_groups=True"):
        curve = ds.fdt(lean, 2.0)
    assert np.isfinite(curve.effective_temperature) and np.isnan(curve.effective_temperature_sem)
    assert np.all(np.isnan(curve.chi_sem)) and np.all(np.isnan(curve.dC_sem))
    # One group: no error bars, nothing to warn about (as asked).
    one = ds.fdt(ds.solve_dmft(LANGEVIN, samples=400, seed=0, groups=1), 2.0)
    assert np.isnan(one.effective_temperature_sem) and np.all(np.isnan(one.chi_sem))
    # A group whose own slope is <= 0 defines no temperature: the error is NaN, and said.
    import dataclasses

    res = ds.solve_dmft(LANGEVIN, samples=400, seed=0)
    groups = res.R_groups.copy()
    groups[0] *= -1  # (made up: its response the wrong way)
    mixed = dataclasses.replace(res, R_groups=groups)
    with pytest.warns(RuntimeWarning, match=r"the slope of 1 of the 8 groups' curves is <= 0"):
        curve = ds.fdt(mixed, 2.0)
    assert np.isfinite(curve.effective_temperature) and np.isnan(curve.effective_temperature_sem)


# --- Honesty of the two-time error bars (issue 19) -------------------------------------

TWO_TIME_SEEDS = 100
#: Entries (k, l) near the diagonal and far from it, early and late (T = 30). C(0, 0) = q0
#: and R(k+1, k) = 1 are exact (no error) and left out.
C_ENTRIES = [(5, 4), (8, 1), (15, 7), (29, 29), (29, 28), (29, 5)]
R_ENTRIES = [(5, 3), (8, 1), (15, 7), (20, 12), (29, 27), (29, 5)]


def test_two_time_errors_match_the_spread_over_seeds():
    """Over 100 seeds of persistent SGD (two clusters, b = 0.3, tau = 1, T = 30, S = 4000,
    8 groups; the exact tangent; about 1 s in all), the spread of C(k, l), R(k, l) and of
    the kernels M_C, M_R at the entries above against the mean reported sem.

    Expected scatter: the sd over 100 seeds is itself known to 1/sqrt(2 * 99) = 7%, the
    mean of 100 reported sems (7 degrees of freedom each, ~27%) to ~3%; the entries of one
    matrix are strongly correlated (one kernel error moves them all), so pooling them
    (root mean square of the ratios) averages little: the pooled ratio has a scatter of
    ~8% about 1/c4(8) = 1.036 (the sem is an unbiased variance's square root, low by
    3.5% on average). Measured: C 1.10, R 1.04, M_C 1.04, M_R 1.01, single ratios
    0.83-1.16 (at 400 seeds: 1.07, 1.05, 1.04, 1.01; at 400 seeds and S = 1000: 1.03,
    1.02, 1.04, 1.05). The bounds asked, [0.8, 1.25], are 2.5-3 such standard deviations
    from 1.04, and every single ratio (sd 1/sqrt(2 * 99) = 7% and its sem's 3%) must lie
    in [0.6, 1.6]. The seeds are fixed and the results do not depend on the threads, so the
    test gives the same numbers at every run: it cannot flake, only catch a change."""
    cfg = ds.Config(alpha=2.0, delta=0.5, lam=0.1, lr=0.2, batch=0.3, tau=1.0, steps=30)
    runs = [ds.solve_dmft(cfg, samples=4000, seed=s, groups=8) for s in range(TWO_TIME_SEEDS)]
    assert runs[0].response == "tangent"
    pooled = {}
    for name, entries in (("C", C_ENTRIES), ("R", R_ENTRIES), ("M_C", C_ENTRIES), ("M_R", R_ENTRIES)):
        values = np.array([r.mean(name) for r in runs])
        sems = np.array([r.sem(name) for r in runs])
        ratios = {(k, l): values[:, k, l].std(ddof=1) / sems[:, k, l].mean() for k, l in entries}
        assert all(0.6 <= r <= 1.6 for r in ratios.values()), (name, ratios)
        pooled[name] = float(np.sqrt(np.mean(np.square(list(ratios.values())))))
    assert all(0.8 <= p <= 1.25 for p in pooled.values()), pooled


def test_the_effective_temperatures_error_matches_the_spread_over_seeds():
    """fdt's docstring example (Langevin GD, linear teacher, T = 0.1, S = 400, 8 groups:
    50 samples each), t_w = 2, over 100 seeds (about 1 s): the spread of
    effective_temperature against the mean effective_temperature_sem (each group's fit).

    One ratio, not pooled: the sd over 100 seeds is known to 7%, the mean sem to ~3%, and
    c4(8) puts the expectation at 1.036. Beyond the linear error propagation the
    observables' test relies on, the temperature is a ratio of sums fitted to each group's
    curve from only 50 samples: its bias is second order in the group's noise (measured:
    the mean of the groups' fits exceeds the fit of the mean curve by 0.15% of T, against
    a spread of the groups' fits of 7%), negligible here but a reason for a looser bound
    than the pooled one: [0.7, 1.4], beyond 4 standard deviations on either side.
    Measured: 1.02 (40 seeds: 1.08, 400 seeds: 1.08; 100 seeds at S = 2000: 0.98). Fixed
    seeds: it cannot flake."""
    runs = [ds.solve_dmft(LANGEVIN, samples=400, seed=s) for s in range(TWO_TIME_SEEDS)]
    curves = [ds.fdt(r, 2.0) for r in runs]
    temperatures = np.array([c.effective_temperature for c in curves])
    sems = np.array([c.effective_temperature_sem for c in curves])
    assert np.all(np.isfinite(sems)) and np.all(sems > 0)
    ratio = temperatures.std(ddof=1) / sems.mean()
    assert 0.7 <= ratio <= 1.4, ratio
    # The error bar says something: T_eff = T (1 + O(lr)) within a few of its sems.
    assert abs(temperatures.mean() - 0.1) < 0.01


# --- The error bars' own uncertainty (issue 25, item 3) ----------------------------------


def test_sem_uncertainty_is_one_over_sqrt_two_degrees_of_freedom():
    cfg = ds.Config(steps=5)
    assert ds.solve_dmft(cfg, samples=80, seed=0).sem_uncertainty == pytest.approx(0.26726, abs=1e-5)  # 8 groups
    assert ds.solve_dmft(cfg, samples=80, seed=0, groups=4).sem_uncertainty == pytest.approx(0.40825, abs=1e-5)
    assert ds.solve_dmft(cfg, samples=510, seed=0, groups=51).sem_uncertainty == pytest.approx(0.1, abs=1e-12)
    assert np.isnan(ds.solve_dmft(cfg, samples=80, seed=0, groups=1).sem_uncertainty)
    assert ds.simulate(cfg, d=20, replicas=8, seed=0, threads=1).sem_uncertainty == pytest.approx(0.26726, abs=1e-5)
    assert np.isnan(ds.simulate(cfg, d=20, replicas=1, seed=0, threads=1).sem_uncertainty)
    sgf = ds.sgf(ds.Config(lr=0.2, steps=4), samples=80, seed=0)
    assert sgf.groups == 8 and sgf.sem_uncertainty == pytest.approx(0.26726, abs=1e-5)


@pytest.mark.parametrize("groups", [8, 4])
def test_sem_uncertainty_is_the_spread_of_the_sem_over_seeds(groups):
    """Over 100 seeds (persistent SGD, T = 30, S = 800), the relative spread of the
    reported sem of m, q and the test error at t = 2 and 5.8 against sem_uncertainty.
    Measured (root mean square of the six): 0.286 at 8 groups (sem_uncertainty 0.267),
    0.456 at 4 (0.408): the exact relative spread of a standard deviation of G Gaussian
    values, sqrt(1 - c4^2)/c4, is 0.272 and 0.422; each measured one is known to ~7%."""
    cfg = ds.Config(alpha=2.0, delta=0.5, lam=0.1, lr=0.2, batch=0.3, tau=1.0, steps=30)
    runs = [ds.solve_dmft(cfg, samples=800, seed=s, groups=groups) for s in range(100)]
    sems = np.array([[r.sem(n)[[10, 29]] for n in ("m", "q", "test_error")] for r in runs])
    spread = np.sqrt(np.mean((sems.std(axis=0, ddof=1) / sems.mean(axis=0)) ** 2))
    expected = runs[0].sem_uncertainty
    assert 0.9 < spread / expected < 1.25, (spread, expected)
