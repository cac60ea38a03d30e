"""The stochastic gradient flow (`dmft_sgd.sgf`): the lr -> 0 limit of the coupled ladder.

Tolerances come from the reported standard errors (8 groups: the t-distribution with 7
degrees of freedom puts |z| > 4 at 0.5% per point), with the numbers measured at these
seeds in the comments."""

import sys
from pathlib import Path

import numpy as np
import pytest

import dmft_sgd as ds
from dmft_sgd.cli import main
from dmft_sgd.sgf import richardson_weights
from test_cli import png_size

sys.path.insert(0, str(Path(__file__).resolve().parent))
from exact_teacher import teacher_gf_exact  # noqa: E402

#: Persistent SGD, two clusters, b = 0.3, tau = 1, up to t = 10.
PERSISTENT = ds.Config(alpha=2.0, delta=0.5, lam=0.1, lr=0.2, batch=0.3, tau=1.0, steps=51)
#: Full-batch GD of the linear teacher with the square loss and a ridge, up to t = 5.
RIDGE = dict(alpha=2.0, lam=0.1, m0=0.1, q0=1.0, noise=0.25)
GD = ds.Config(data="teacher", teacher="linear", loss="square", lr=0.1, steps=51, **RIDGE)


def test_richardson_weights_cancel_the_powers_of_lr():
    lrs = (0.2, 0.1, 0.05)
    assert np.allclose(richardson_weights(lrs, 1), [0, -1, 2])
    assert np.allclose(richardson_weights(lrs, 2), np.array([1, -6, 8]) / 3)
    assert np.allclose(richardson_weights(lrs, 0), [0, 0, 1])
    h = np.array([0.3, 0.1, 0.05, 0.0125])  # unequal ratios 3, 2, 4
    for order in range(4):
        w = richardson_weights(h, order)
        assert np.isclose(w.sum(), 1.0)
        assert all(abs(w @ h**j) < 1e-12 for j in range(1, order + 1))
        assert np.all(w[: h.size - order - 1] == 0)


@pytest.fixture(scope="module")
def gd():
    return ds.sgf(GD, samples=8000, seed=1)


def test_gradient_flow_limit_is_the_exact_flow(gd):
    exact = teacher_gf_exact(t=gd.t, **RIDGE)
    for name in gd.observables:
        limit, sem = gd[name], gd.sem(name)
        # Within 4 sem at every time (measured max |z| over the 50 times: 0.6 test loss,
        # 1.8 m, 3.3 train loss, 3.4 q; with 7 degrees of freedom |z| > 4 has 0.5% per
        # point); the t = 0 values agree exactly where the DMFT draws nothing (sem 0).
        assert np.all(np.abs(limit - exact[name]) <= 4 * sem + 1e-12), name
        # The discretisation error left is well below the noise: the order-2 change
        # (measured <= 2.7e-3 for q, 1.7e-3 for the losses) under 2 sem of the limit.
        assert np.all(np.abs(gd.discretisation_error(name)) <= 2 * sem + 1e-12), name
        # The coarsest level (lr = 0.1) is measurably farther: its largest gap exceeds
        # 4 sem there and twice the limit's largest gap (measured 6-96 sem).
        coarse = np.abs(gd.level(name, 0) - exact[name])
        k = int(np.argmax(coarse))
        assert coarse[k] > 4 * sem[k] and coarse.max() > 2 * np.abs(limit - exact[name]).max(), name


def test_gradient_flow_converges_at_order_one(gd):
    # m's noise is common to the levels (their differences' sem ~1e-7): Euler's order 1
    # shows from t = 1 on (measured 0.976-1.02; the first steps, t < 1, are not yet in
    # the asymptotic range: 1.29 at t = lr).
    p = gd.observed_order("m")
    assert np.isnan(p[0]) and np.all(np.abs(p[1:] - 1) < 0.35)
    assert np.all(np.abs(p[gd.t >= 1] - 1) < 0.05)


@pytest.fixture(scope="module")
def persistent():
    return ds.sgf(PERSISTENT, samples=20_000, seed=0)


def test_persistent_limit_matches_a_brute_force_solve_at_an_8x_smaller_lr(persistent):
    brute = ds.solve_dmft(PERSISTENT.replace(lr=0.025, steps=401), samples=12_000, seed=1, keep_kernels=False)
    assert np.allclose(brute.t[::8], persistent.t)
    for name in persistent.observables:
        value, sem = brute.mean(name)[::8], brute.sem(name)[::8]
        gap = persistent[name] - value
        z = gap[1:] / np.hypot(persistent.sem(name), sem)[1:]
        # Measured max |z| 0.8 (test error) to 2.6 (q) over the 50 times; the brute
        # force's own O(lr) error is 1/8 of the coarsest level's, below its sem.
        assert np.all(np.abs(z) < 4), name
        # The coarsest level (lr = 0.2) is farther from it (measured rms 4-8x).
        coarse = persistent.level(name, 0) - value
        assert np.sqrt(np.mean(coarse**2)) > 2 * np.sqrt(np.mean(gap**2)), name


def test_the_levels_are_coupled_and_the_limit_costs_little_precision(persistent):
    # Correlation over groups between consecutive levels (measured 0.93-0.99 for the
    # test error at t >= 5); the limit's sem is close to the finest level's (measured
    # 1.0-1.3x at t >= 5; an uncoupled order-2 ladder would be ~3.4x).
    late = persistent.t >= 5
    assert np.all(persistent.level_correlation("test_error")[:, late] > 0.8)
    finest = persistent.levels[-1]
    ratio = persistent.sem("test_error")[late] / finest.sem("test_error")[::4][late]
    assert 0.7 < np.median(ratio) < 2.0


def test_the_observed_order_of_persistent_sgd_is_one():
    # A ladder with large differences between its levels (b = 0.5, tau = 1, lr = 0.5 ->
    # 0.0625, t <= 5), and the order from the three finest levels' differences summed
    # over the times (each difference is 10-20 sem): measured 0.99 (training loss) and
    # 0.94 (test loss), jackknife error over the groups 0.12-0.16; 0.91-1.25 over seeds
    # 5-8. Per time (``observed_order``) the same ratios are noisier (0.75-1.16 here).
    cfg = ds.Config(alpha=2.0, delta=0.5, lam=0.1, lr=0.5, batch=0.5, tau=1.0, steps=11)
    res = ds.sgf(cfg, lrs=(0.5, 0.25, 0.125, 0.0625), samples=40_000, seed=6)  # order 3: no warning
    for name in ("train_loss", "test_loss"):
        summed = res.group_values(name)[-3:, :, 1:].sum(axis=2)  # (levels, groups)
        d = summed[:-1] - summed[1:]
        assert np.all(np.abs(d.mean(axis=1)) > 8 * d.std(axis=1, ddof=1) / np.sqrt(res.groups)), name
        p = np.log2(d[0].mean() / d[1].mean())
        assert abs(p - 1) < 0.3, (name, p)
        per_time = res.observed_order(name)
        assert np.isnan(per_time[0]) and np.nanmedian(per_time) == pytest.approx(1, abs=0.4), name


def test_finest_level_is_solve_dmft_bit_for_bit():
    cfg = PERSISTENT.replace(steps=11)
    res = ds.sgf(cfg, samples=1000, seed=7, lrs=(0.2, 0.1))
    plain = ds.solve_dmft(cfg.replace(lr=0.1, steps=21), samples=1000, seed=7, keep_kernels=False,
                          keep_groups=False)
    finest = res.levels[-1]
    assert finest.config == plain.config
    for name in ("t", "C", "R", *res.observables):
        assert np.array_equal(getattr(finest, name), getattr(plain, name)), name
    for name in res.observables:
        assert np.array_equal(finest.sem(name), plain.sem(name))
        assert np.array_equal(finest.group_values(name), plain.group_values(name))
    assert res.order == 1 and res.lrs == (0.2, 0.1) and res.t.size == 11
    # Order 1 on two levels: the limit is 2 f(h/2) - f(h), its error the limit minus the finest.
    limit = 2 * finest.test_error[::2] - res.levels[0].test_error
    assert np.allclose(res["test_error"], limit)
    assert np.allclose(res.discretisation_error("test_error"), limit - finest.test_error[::2])


def test_plain_sgd_is_refused_and_gradient_flow_works():
    with pytest.raises(ValueError, match="tau"):
        ds.sgf(PERSISTENT.replace(tau=None), samples=200)
    res = ds.sgf(ds.Config(lr=0.2, steps=6), samples=400)  # batch = 1: gradient flow
    assert [level.t.size for level in res.levels] == [6, 11, 21]


def test_bad_arguments_are_named():
    cfg = PERSISTENT.replace(steps=11)
    for lrs in ((0.2, 0.15), (0.1, 0.2), (0.2,), (0.3, 0.1)):
        with pytest.raises(ValueError, match="lrs"):
            ds.sgf(cfg, lrs=lrs, samples=200)
    for bad in ("0.2", 0.2, (0.2, "0.1")):
        with pytest.raises(TypeError, match="lrs"):
            ds.sgf(cfg, lrs=bad, samples=200)
    for order in (0, 3, -1):
        with pytest.raises(ValueError, match="order"):
            ds.sgf(cfg, order=order, samples=200)
    with pytest.raises(TypeError, match="order"):
        ds.sgf(cfg, order=1.0, samples=200)
    with pytest.raises(ValueError, match="lr must be one constant rate, not a schedule"):
        ds.sgf(cfg.replace(lr=(0.2,) * 11), samples=200)
    with pytest.raises(ValueError, match="three levels"):
        ds.sgf(cfg, lrs=(0.2, 0.1), samples=200).observed_order("q")


def test_a_ladder_too_coarse_warns_once_and_says_where():
    cfg = ds.Config(alpha=2.0, delta=0.5, lam=0.1, lr=1.0, steps=11)  # GD at lr = 1, 0.5, 0.25
    with pytest.warns(RuntimeWarning, match="too coarse") as caught:
        res = ds.sgf(cfg, samples=4000, seed=0)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "at t = " in message and "smaller lrs" in message
    assert any(name in message for name in res.observables)


def test_regression_teacher_has_no_errors_and_a_tidy_table(gd):
    assert "test_error" not in gd.observables
    with pytest.raises(ValueError, match="test_error"):
        gd.mean("test_error")
    table = gd.to_dataframe()
    assert list(table.columns) == ["t", "observable", "value", "sem", "discretisation_error"]
    assert len(table) == len(gd.observables) * gd.t.size
    row = table[(table.observable == "q")].iloc[-1]
    assert row["value"] == gd["q"][-1] and row["sem"] == gd.sem("q")[-1]
    assert "SGFResult(lrs=(0.1, 0.05, 0.025), order=2" in repr(gd)


def test_plot_sgf_draws_the_levels_and_the_limit(persistent, tmp_path):
    from dmft_sgd.plot import plot_sgf, save_figure

    fig = plot_sgf(persistent)
    top = fig.axes[0]
    labels = top.get_legend_handles_labels()[1]
    assert labels == ["DMFT, η = 0.2", "DMFT, η = 0.1", "DMFT, η = 0.05", "limit η → 0 (order 2) ± sem"]
    assert len(fig.axes) == 4  # two observables, values above and level - limit below
    assert png_size(save_figure(fig, tmp_path / "sgf.png"))[0] >= 500
    with pytest.raises(ValueError):
        plot_sgf(persistent, names=["nope"])


def test_cli_sgf_prints_the_limit_and_writes_its_plot(tmp_path, capsys):
    assert main(["sgf", "--steps", "21", "--samples", "4000", "--out", str(tmp_path), "--quiet"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith("ladder lrs = 0.2, 0.1, 0.05, Richardson order 2, S = 4000, 8 groups")
    res = ds.sgf(PERSISTENT.replace(steps=21), samples=4000, seed=0)
    row = next(line for line in lines if line.startswith("test_error") and line.split()[1] == "4")
    assert f"{res['test_error'][-1]:.5f} ± {res.sem('test_error')[-1]:.5f}" in row
    assert png_size(tmp_path / "sgf.png")[0] >= 500
    assert err == "" and "wrote" not in out
    # Bad input: one line naming the option, exit code 2.
    assert main(["sgf", "--lrs", "0.2", "0.15", "--out", str(tmp_path)]) == 2
    assert "--lrs" in capsys.readouterr().err
    assert main(["sgf", "--order", "5", "--out", str(tmp_path)]) == 2
    assert "--order" in capsys.readouterr().err


def test_cli_sgf_refuses_plain_sgd_typed_as_tau_none(tmp_path, capsys):
    # The command's own default is tau=1; `--tau none` overrides it and is refused.
    assert main(["sgf", "--tau", "none", "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dmft-sgd: error: --tau: tau must be given") and "gradient flow" in err
    # Gradient flow (batch 1) needs no tau.
    assert main(["sgf", "--tau", "none", "--batch", "1", "--steps", "11", "--samples", "400",
                 "--out", str(tmp_path), "--quiet"]) == 0


def test_the_limits_error_bars_are_honest():
    """Over 40 seeds, the spread of the limit of every observable at three times against
    the mean reported sem: a ratio near 1/c4(8) = 1.04 (the sem of 8 groups is low by
    c4 on average), each single ratio uncertain by ~1/sqrt(2 x 39) = 11%, the pooled one
    by less; the bounds [0.8, 1.25] (pooled) and [0.6, 1.6] (each) are > 2 of those
    widths away. Fixed seeds: measured pooled 1.00, single ratios 0.90-1.17."""
    cfg = PERSISTENT.replace(steps=21)
    names, times = ("m", "q", "train_loss", "test_error"), [5, 10, 20]
    values, sems = [], []
    for seed in range(40):
        res = ds.sgf(cfg, samples=2000, seed=seed)
        values.append([res[name][times] for name in names])
        sems.append([res.sem(name)[times] for name in names])
    ratios = np.array(values).std(axis=0, ddof=1) / np.array(sems).mean(axis=0)
    pooled = np.sqrt((ratios**2).mean())
    assert 0.8 <= pooled <= 1.25, (pooled, ratios)
    assert ((0.6 <= ratios) & (ratios <= 1.6)).all(), ratios


def test_a_saved_sgf_result_loads_back_equal(tmp_path):
    res = ds.sgf(PERSISTENT.replace(steps=11), samples=800, seed=3)
    back = ds.load(res.save(tmp_path / "sgf.npz"))
    assert isinstance(back, ds.SGFResult) and repr(back) == repr(res)
    assert (back.lrs, back.order, back.seed, back.groups) == (res.lrs, res.order, res.seed, res.groups)
    for name in res.observables:
        assert np.array_equal(back[name], res[name]) and np.array_equal(back.sem(name), res.sem(name))
    for a, b in zip(back.levels, res.levels):
        assert a.config == b.config and np.array_equal(a.C, b.C) and np.array_equal(a.C_sem, b.C_sem)
    # The command writes it.
    assert main(["sgf", "--steps", "11", "--samples", "800", "--out", str(tmp_path / "cli"), "--quiet"]) == 0
    assert isinstance(ds.load(tmp_path / "cli" / "sgf.npz"), ds.SGFResult)


def _log2_order(values):
    """log2 of the ratio of consecutive differences of the levels' means (3, groups, T)."""
    f = values.mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log2((f[0] - f[1]) / (f[1] - f[2]))


def test_the_observed_orders_error_is_the_jackknife_over_the_groups(persistent):
    p, sem = persistent.observed_order("test_loss"), persistent.observed_order_sem("test_loss")
    values = persistent.group_values("test_loss")  # lrs 0.2, 0.1, 0.05: r = 2
    G = persistent.groups
    left_out = np.array([_log2_order(np.delete(values, g, axis=1)) for g in range(G)])
    expected = np.sqrt((G - 1) / G * ((left_out - left_out.mean(axis=0)) ** 2).sum(axis=0))
    np.testing.assert_allclose(p, _log2_order(values), rtol=1e-10)
    np.testing.assert_allclose(sem, expected, rtol=1e-8)
    assert np.isnan(sem[0]) and np.all(sem[1:] > 0)


def test_a_low_observed_order_within_its_noise_does_not_warn(persistent):
    # The README's example (20 000 samples): q's order falls to 0.08 at t = 10, but
    # with an error bar of 0.56 (1.6 of them below 1): the noise, nothing to warn about.
    p, sem = persistent.observed_order("q"), persistent.observed_order_sem("q")
    assert p[-1] == pytest.approx(0.08, abs=0.01) and sem[-1] == pytest.approx(0.56, abs=0.01)
    assert np.nanmax(np.where(p < 0.5, (1 - p) / sem, 0)) < 4  # measured 2.7 (t = 8.4)


def test_an_observed_order_far_below_one_warns_and_says_what_it_means():
    # 40 000 samples: q's order falls to 0.3-0.5 from t = 5 on, 4-8 of its jackknife
    # errors below 1 (0.46 +- 0.069 at t = 5.6): the differences of the finest levels
    # do not shrink in proportion to lr. m's order stays near 1 in the same run.
    cfg = PERSISTENT.replace(steps=36)  # t <= 7
    res = ds.sgf(cfg, samples=40_000, seed=0)
    with pytest.warns(RuntimeWarning, match=r"observed_order\('q'\): the order falls to 0.46 ± 0.069 at "
                                            r"t = 5.6 \(10 of 36 times below 1/2") as caught:
        p = res.observed_order("q")
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "not in the asymptotic range of the expansion in lr" in message and "use smaller lrs" in message
    assert p[28] == pytest.approx(0.46, abs=0.01) and res.observed_order_sem("q")[28] == pytest.approx(0.069, abs=0.001)
    m = res.observed_order("m")  # no warning (pytest's filterwarnings=error)
    assert np.nanmin(m) > 0.5
