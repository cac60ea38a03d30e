"""How well the fluctuation-dissipation curve is a line (issue 25, item 2): `fdt` reports
the residual of its linear fit against the Monte Carlo noise (`FDTCurve.residual_ratio`)
and warns where the linear FDT does not hold, so that a tight error bar on a curved fit
does not pass for an effective temperature. Fixed seeds: the numbers are the same at
every run."""

import warnings

import numpy as np
import pytest

import dmft_sgd as ds
from dmft_sgd.fdt import LINEAR_FDT_THRESHOLD

#: Langevin GD of the linear teacher (ridge 0.5, T = 0.1, lr = 0.1, t <= 39.9): it
#: relaxes in a few units of time, so t_w = 1 is a transient and t_w = 20 equilibrium.
LANGEVIN = ds.Config(data="teacher", teacher="linear", loss="square", noise=0.1, lam=0.5, temperature=0.1,
                     steps=400)


@pytest.fixture(scope="module")
def langevin():
    return ds.solve_dmft(LANGEVIN, samples=20_000, seed=0)  # 8 groups of 2500


def test_a_curved_fdt_warns_and_names_t_w(langevin):
    # At t_w = 1 the curve bends: its residual from the line is 4.9 times its noise
    # (measured), though the temperature's error bar is tight (0.1038 +- 0.0005).
    with pytest.warns(RuntimeWarning, match=r"fdt\(t_w=1\): chi against dC is not a line: its residual "
                                            r"from the fitted line is 4.9\d* times its Monte Carlo noise") as caught:
        curve = ds.fdt(langevin, 1.0)
    assert len(caught) == 1 and "the linear FDT does not hold at this t_w" in str(caught[0].message)
    assert curve.residual_ratio == pytest.approx(4.91, abs=0.01) and curve.residual_ratio > LINEAR_FDT_THRESHOLD
    # What the warning is about: the temperature of the curved fit is 13 of its error bars
    # away from the equilibrium one (0.1038 +- 0.0005 against 0.1107 +- 0.0004).
    assert curve.effective_temperature == pytest.approx(0.1038, abs=1e-4)
    assert curve.effective_temperature_sem == pytest.approx(5.0e-4, abs=0.5e-4)
    healthy = ds.fdt(langevin, 20.0)
    gap = healthy.effective_temperature - curve.effective_temperature
    assert gap > 10 * np.hypot(curve.effective_temperature_sem, healthy.effective_temperature_sem)


def test_an_equilibrium_fdt_is_a_line_within_its_noise_and_does_not_warn(langevin):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        curve = ds.fdt(langevin, 20.0)
    # Measured 1.22: the residual is the noise's size.
    assert curve.residual_ratio == pytest.approx(1.22, abs=0.01)
    assert curve.effective_temperature == pytest.approx(0.1107, abs=1e-4)


def test_the_residual_ratio_is_the_rms_residual_over_its_noise_from_the_groups(langevin):
    curve = ds.fdt(langevin, 20.0)
    k_w, G = 200, langevin.groups
    assert curve.t_w == pytest.approx(20.0) and G == 8
    chis = 0.1 * langevin.R_groups[:, k_w:, k_w:].sum(axis=2)
    dCs = np.array([np.diag(c)[k_w:] - c[k_w:, k_w] for c in langevin.C_groups])
    residual = curve.chi - curve.dC / curve.effective_temperature
    slopes = (chis * dCs).sum(axis=1) / (dCs**2).sum(axis=1)  # each group's own line
    sems = (chis - slopes[:, None] * dCs).std(axis=0, ddof=1) / np.sqrt(G)
    expected = np.sqrt((residual**2).sum() / (sems**2).sum())
    assert curve.residual_ratio == pytest.approx(expected, rel=1e-9)


def test_the_residual_ratio_is_nan_without_the_groups():
    cfg = LANGEVIN.replace(lr=0.05, steps=80)
    one = ds.fdt(ds.solve_dmft(cfg, samples=400, seed=0, groups=1), 2.0)
    assert np.isnan(one.residual_ratio)
    lean = ds.solve_dmft(cfg, samples=400, seed=0, keep_groups=False)
    with pytest.warns(RuntimeWarning, match="holds no group's C and R"):
        assert np.isnan(ds.fdt(lean, 2.0).residual_ratio)
