"""The response estimators (theory.md section 4.2): the probe estimator against the exact
tangent on the same seeds, its exact limit, and what `response="auto"` chooses.

Same seed means the same samples, batch chains and cavity noise for both estimators;
only the probes differ. So `probe - tangent` is the probe's own noise (plus its feedback
through R), and its mean over seeds must vanish: M_R entries give z-scores that look
N(0, 1), and every observable stays within the combined Monte Carlo error."""

import math

import numpy as np
import pytest

import dmft_sgd as ds

OBS = ds.OBSERVABLES

# >= 5 settings: GD, plain SGD, persistent SGD with tau >> lr, three clusters with the
# door, zero ridge, and square loss with a linear output (phi does not depend on the
# field there, so G depends on the batch chain alone).
SETTINGS = {
    "GD": dict(lr=0.1, lam=0.1),
    "plain SGD": dict(lr=0.1, batch=0.3, lam=0.1),
    "persistent SGD": dict(lr=0.05, batch=0.3, tau=2.0, lam=0.05),
    "three clusters, door": dict(clusters=3, rho=0.6, lr=0.1, batch=0.5, lam=0.02, m0=0.5, q0=0.5),
    "zero ridge": dict(lr=0.1, batch=0.3, lam=0.0),
    "square, linear, persistent": dict(loss="square", lr=0.05, batch=0.3, tau=1.0, lam=0.1),
}
STEPS, SAMPLES, SEEDS = 300, 4000, 6


def solve_both(changes):
    cfg = ds.Config(alpha=2.0, delta=0.5, steps=STEPS, **changes)
    return [
        (ds.solve_dmft(cfg, samples=SAMPLES, seed=s, response="tangent"),
         ds.solve_dmft(cfg, samples=SAMPLES, seed=s, response="probe", band=16))
        for s in range(SEEDS)
    ]


@pytest.fixture(scope="module")
def solves():
    return {name: solve_both(changes) for name, changes in SETTINGS.items()}


@pytest.mark.slow
def test_probe_response_entries_are_unbiased(solves):
    k = STEPS - 1
    lags = [16, 40, 100, 200, 299]  # all beyond the exact band
    z = []
    for name, runs in solves.items():
        diff = np.array([[p.M_R[k, k - g] - t.M_R[k, k - g] for g in lags] for t, p in runs])
        z.extend(diff.mean(0) / (diff.std(0, ddof=1) / math.sqrt(SEEDS)))
    z = np.array(z)
    # 30 z-scores (t with 5 degrees of freedom, correlated within a setting): their mean
    # has sd ~ 0.2-0.4; no single one beyond the t(5) 0.1% quantile.
    assert abs(z.mean()) < 1.0, z
    assert 0.4 < z.std() < 1.8, z
    assert np.abs(z).max() < 6.9, z


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SETTINGS))
def test_probe_observables_agree_with_the_tangent(solves, name):
    for tangent, probe in solves[name]:
        assert probe.response == "probe" and tangent.response == "tangent"
        for obs in OBS:
            se = np.sqrt(tangent.sem(obs) ** 2 + probe.sem(obs) ** 2)
            gap = np.abs(probe.mean(obs) - tangent.mean(obs))
            # Shared samples make the difference smaller than either error; 4.5 combined
            # standard errors (8 groups: t with 7 degrees of freedom) at every step.
            assert np.all(gap <= 4.5 * se + 1e-12), (obs, np.max(gap / np.maximum(se, 1e-300)))


def test_probe_with_a_band_covering_every_lag_is_the_exact_tangent():
    # band >= T: every entry is computed exactly; only rounding differs.
    cfg = ds.Config(lr=0.1, batch=0.4, lam=0.05, steps=60)
    tangent = ds.solve_dmft(cfg, samples=1000, seed=3, response="tangent")
    probe = ds.solve_dmft(cfg, samples=1000, seed=3, response="probe", band=60)
    np.testing.assert_allclose(probe.M_R, tangent.M_R, rtol=1e-9, atol=1e-14)
    for obs in OBS:
        np.testing.assert_allclose(probe.mean(obs), tangent.mean(obs), rtol=1e-9, atol=1e-14)


def test_auto_uses_the_tangent_while_affordable_and_records_the_choice():
    # The tangent's work b S T^3 / 6 <= 1.5e11 multiply-adds: here 6e8 and 1.5e11.
    short = ds.solve_dmft(ds.Config(lr=0.1, steps=300), samples=400)
    assert (short.response, short.band) == ("tangent", 0)
    long = ds.solve_dmft(ds.Config(lr=0.1, steps=1200), samples=600, groups=2, keep_kernels=False)
    assert (long.response, long.band) == ("probe", 16)
    assert long.M_C is None and long.M_R is None and long.mu is None
    assert long.C.shape == (1200, 1200)


def test_auto_gives_the_door_the_tangents_error_bars():
    # Three clusters with the door (the README's CLI example): the probe's noise is 1-15x
    # the entries of M_R there and doubled the error bars; auto now is the tangent, bit
    # for bit.
    cfg = ds.Config(clusters=3, batch=0.5, steps=300)
    auto = ds.solve_dmft(cfg, samples=4000, seed=2, keep_kernels=False)
    tangent = ds.solve_dmft(cfg, samples=4000, seed=2, keep_kernels=False, response="tangent")
    assert auto.response == "tangent"
    for name in OBS:
        np.testing.assert_array_equal(auto.sem(name), tangent.sem(name))


def test_a_result_without_kernels_saves_and_loads(tmp_path):
    r = ds.solve_dmft(ds.Config(lr=0.1, batch=0.5, steps=20), samples=400, keep_kernels=False)
    back = ds.load(r.save(tmp_path / "light.npz"))
    assert back.M_C is None and back.M_R is None and back.mu is None
    for name in ("C", "R", *OBS):
        np.testing.assert_array_equal(getattr(back, name), getattr(r, name))
    for name in OBS:
        np.testing.assert_array_equal(back.sem(name), r.sem(name))
    assert (back.response, back.groups) == (r.response, r.groups)


def test_bad_response_options_are_named():
    cfg = ds.Config(steps=5)
    with pytest.raises(ValueError, match="response must be 'auto', 'tangent' or 'probe'"):
        ds.solve_dmft(cfg, samples=100, response="stein")
    with pytest.raises(ValueError, match="band must be >= 1"):
        ds.solve_dmft(cfg, samples=100, response="probe", band=0)
    with pytest.raises(ValueError, match=r"groups must be in \[1, samples/2 = 50\]"):
        ds.solve_dmft(cfg, samples=100, groups=51)
    with pytest.raises(TypeError, match="keep_kernels must be a bool"):
        ds.solve_dmft(cfg, samples=100, keep_kernels=1)


def test_progress_true_shows_a_bar(capsys):
    cfg = ds.Config(lr=0.1, batch=0.5, steps=30)
    r = ds.solve_dmft(cfg, samples=200, progress=True)
    sim = ds.simulate(cfg, d=50, replicas=2, progress=True)
    res = ds.sweep(cfg, {"batch": [0.5, 1.0]}, kind="dmft", samples=200, progress=True)
    err = capsys.readouterr().err
    assert "DMFT" in err and "SGD" in err and "sweep" in err and "30/30" in err
    assert r.m.shape == (30,) and sim.m.shape == (2, 30) and len(res.results) == 2
    with pytest.raises(TypeError, match="progress must be None, a bool or a callable"):
        ds.solve_dmft(cfg, samples=200, progress="yes")


def test_default_groups_never_exceed_the_response_sample_pairs():
    r = ds.solve_dmft(ds.Config(lr=0.1, batch=0.5, steps=10), samples=2000, response_samples=10)
    assert r.groups == 5 and r.response_samples == 10
    assert np.all(np.isfinite(r.M_R)) and np.all(r.sem("q")[1:] > 0)
