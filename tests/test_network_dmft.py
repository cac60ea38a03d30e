"""The DMFT of two-layer networks (theory.md section 8.2): checked against the
single-unit DMFT it reduces to at K = 1, the exact d -> inf solution of a committee of
linear units, and the finite-d network simulation in several settings (mixture and
teachers; erf and tanh units; K = 2, 3; GD, plain and persistent SGD)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dmft_sgd as ds
import exact_teacher
from dmft_sgd import _core


def worst_z(theory, sim, names) -> float:
    """The largest |difference| / combined standard error over every entry and step."""
    worst = 0.0
    for name in names:
        diff = np.abs(theory.mean(name) - sim.mean(name))
        sem = np.sqrt(theory.sem(name) ** 2 + sim.sem(name) ** 2)
        # Entries without spread (t = 0: the same start) must agree exactly.
        assert np.all(diff[sem == 0] == 0), name
        worst = max(worst, float(np.max(diff[sem > 0] / sem[sem > 0])))
    return worst


def network_and_single_unit(cfg, samples=8000):
    """The network solver on the one-unit problem `cfg` (called directly: the API sends one
    unit to the single-unit solver) and the single-unit solver, other seeds."""
    out = _core.solve_network_dmft(cfg.to_dict(), samples=samples, groups=8, seed=0, threads=2)
    net = ds.NetworkDMFTResult(config=cfg, samples=samples, groups=8, seed=0, **out)
    return net, ds.solve_dmft(cfg, samples=samples, seed=1)


def assert_blocks_agree(net, one):
    """C(t,s) and R(t,s) of the two, entry by entry, within 4.5 combined standard errors
    (+ 1e-9: rounding where there is no spread)."""
    for name in ("C", "R"):
        a, sa = net.mean(name)[:, 0, :, 0], net.sem(name)[:, 0, :, 0]
        b, sb = getattr(one, name), one.sem(name)
        assert np.all(np.abs(a - b) < 4.5 * np.sqrt(sa**2 + sb**2) + 1e-9), name


def test_at_one_unit_it_is_the_single_unit_dmft():
    # The network solver on a one-unit problem (called directly: the API sends one unit
    # to the single-unit solver) against that solver: every observable within 4 combined
    # standard errors at every step.
    cfg = ds.Config(data="teacher", teacher="linear", loss="square", noise=0.1, alpha=3.0, lam=0.1, lr=0.1,
                    steps=30, m0=0.2)
    net, one = network_and_single_unit(cfg)
    # The two-time blocks too: C(t,s) and R(t,s), entry by entry (R(t+1,t) = 1 exactly).
    assert_blocks_agree(net, one)
    assert np.all(np.diagonal(net.R[:, :, 0, :, 0], offset=-1, axis1=1, axis2=2) == 1.0)
    m, q_full = net.mean("M")[:, 0, 0], net.mean("Q")[:, 0, 0]
    pairs = [(m, net.sem("M")[:, 0, 0], one.m, one.sem("m")),
             (q_full, net.sem("Q")[:, 0, 0], one.q + one.m**2, one.sem("q") + 2 * abs(one.m) * one.sem("m")),
             (net.mean("train_loss"), net.sem("train_loss"), one.train_loss, one.sem("train_loss")),
             (net.mean("test_loss"), net.sem("test_loss"), one.test_loss, one.sem("test_loss"))]
    for a, sa, b, sb in pairs:
        z = np.abs(a - b)[1:] / np.sqrt(sa**2 + sb**2)[1:]
        assert z.max() < 4, z.max()


def test_with_a_schedule_at_one_unit_it_is_the_single_unit_dmft():
    # Eq. 3.10 in blocks: the response kept in units of dt_0 and reported as the true
    # one, R(t,s) = (1/dt_s) dw(t)/d eta(s), as the single-unit solver reports it.
    cfg = ds.Config(data="teacher", teacher="linear", loss="square", noise=0.1, alpha=3.0, lam=0.1,
                    lr=WARM_UP_DECAY, steps=30, m0=0.2, batch=0.5, tau=1.0)
    net, one = network_and_single_unit(cfg)
    assert_blocks_agree(net, one)
    # R(t+1,t) = dt_t/dt_0 in the solver's units: 1 in the true ones, up to rounding.
    assert np.allclose(np.diagonal(net.R[:, :, 0, :, 0], offset=-1, axis1=1, axis2=2), 1.0, rtol=1e-14)
    for a, sa, b, sb in [(net.mean("M")[:, 0, 0], net.sem("M")[:, 0, 0], one.m, one.sem("m")),
                         (net.mean("test_loss"), net.sem("test_loss"), one.test_loss, one.sem("test_loss"))]:
        z = np.abs(a - b)[1:] / np.sqrt(sa**2 + sb**2)[1:]
        assert z.max() < 4, z.max()


def test_a_committee_of_linear_units_follows_the_exact_solution():
    # As in test_network.py: u = (w_1 + w_2)/2 is one unit at lr/2, 2 lam, q0/2.
    cfg = ds.Config(data="teacher", teacher="linear", loss="square", noise=0.1, alpha=3.0, lam=0.1,
                    lr=0.2, steps=40, hidden=2, second_layer=[0.5, 0.5], m0=0.0)
    res = ds.solve_dmft(cfg, samples=8000, seed=0)
    assert isinstance(res, ds.NetworkDMFTResult) and res.M.shape == (8, 40, 2, 1)
    exact = exact_teacher.teacher_gd_exact(alpha=3.0, lam=0.2, lr=0.1, m0=0.0, q0=0.5, steps=40, noise=0.1)
    gap = np.abs(res.mean("test_loss") - exact["test_loss"])
    assert np.all(gap <= 4 * res.sem("test_loss") + 0.005), gap.max()
    u = res.mean("M")[:, :, 0].mean(axis=1)
    assert np.all(np.abs(u - exact["m"]) <= 4 * res.sem("M")[:, :, 0].max(axis=1) + 0.005)


#: 30 rates: a linear warm-up from 0.05 to 0.3 over 10 steps, then a decay by 0.9 per step.
WARM_UP_DECAY = tuple(float(v) for v in np.concatenate([np.linspace(0.05, 0.3, 10), 0.3 * 0.9 ** np.arange(20)]))

SETTINGS = {
    "erf K=2 on an erf teacher K*=2, GD": dict(
        data="teacher", teacher="linear", loss="square", alpha=3.0, lr=0.3, steps=30, hidden=2,
        teacher_hidden=2, activation="erf", teacher_activation="erf", m0=0.0),
    "tanh K=3 on the sign teacher, plain SGD": dict(
        data="teacher", teacher="sign", loss="logistic", alpha=2.0, lr=0.2, batch=0.5, steps=30, hidden=3,
        activation="tanh", lam=0.05),
    "erf K=2 on the mixture, persistent SGD": dict(
        alpha=2.0, delta=0.5, lam=0.1, lr=0.2, batch=0.3, tau=1.0, steps=30, hidden=2, activation="erf"),
    "erf K=2 with a = (1, -1)/sqrt 2 on a tanh teacher K*=2, Langevin": dict(
        data="teacher", teacher="linear", loss="square", noise=0.05, alpha=3.0, lr=0.2, steps=30, hidden=2,
        second_layer=[0.7071067811865476, -0.7071067811865476], teacher_hidden=2, activation="erf",
        teacher_activation="tanh", temperature=0.01, lam=0.05),
    # Kinked units or losses: the response by Gaussian integration by parts (eq. 8.7).
    "relu K=2 with a = (1, -1)/sqrt 2 on a tanh teacher K*=2, GD": dict(
        data="teacher", teacher="linear", loss="square", alpha=3.0, lr=0.2, steps=30, hidden=2,
        second_layer=[0.7071067811865476, -0.7071067811865476], activation="relu", teacher_hidden=2,
        teacher_activation="tanh", m0=0.0),
    "relu K=2 on the sign teacher, plain SGD": dict(
        data="teacher", teacher="sign", loss="logistic", alpha=2.0, lr=0.2, batch=0.5, steps=30, hidden=2,
        activation="relu", lam=0.05),
    "relu K=2 with the hinge loss on the mixture, plain SGD": dict(
        alpha=2.0, delta=0.5, lam=0.1, lr=0.2, batch=0.3, steps=30, hidden=2, activation="relu", loss="hinge"),
    # Momentum (eq. 8.8), heavy ball and Nesterov.
    "erf K=2 on an erf teacher K*=2, heavy ball": dict(
        data="teacher", teacher="linear", loss="square", alpha=3.0, lr=0.1, steps=30, hidden=2, teacher_hidden=2,
        activation="erf", teacher_activation="erf", m0=0.0, momentum=0.7, batch=0.5),
    "tanh K=2 on the sign teacher, Nesterov": dict(
        data="teacher", teacher="sign", loss="logistic", alpha=2.0, lr=0.1, steps=30, hidden=2, activation="tanh",
        lam=0.05, momentum=0.8, nesterov=True, batch=0.5, tau=0.5),
    # A warm-up then decay schedule (eq. 3.10 in blocks), with and without momentum.
    "erf K=2 on an erf teacher K*=2, a schedule": dict(
        data="teacher", teacher="linear", loss="square", alpha=3.0, lr=WARM_UP_DECAY, steps=30, hidden=2,
        teacher_hidden=2, activation="erf", teacher_activation="erf", m0=0.0, batch=0.5),
    "tanh K=2 on the sign teacher, a schedule with heavy ball": dict(
        data="teacher", teacher="sign", loss="logistic", alpha=2.0, lr=WARM_UP_DECAY, steps=30, hidden=2,
        activation="tanh", lam=0.05, momentum=0.6, batch=0.5, tau=1.0),
    "square units K=4 on the mixture, plain SGD": dict(
        alpha=3.0, delta=0.5, lam=0.1, lr=0.1, batch=0.5, steps=25, hidden=4, activation="door",
        threshold=0.0, loss="logistic"),
}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_the_dmft_matches_the_network_simulation(name):
    # Every entry of M and Q and every observable at every step within 4 combined
    # standard errors plus 0.01 (the finite-d bias at d = 1000).
    cfg = ds.Config(**SETTINGS[name])
    theory = ds.solve_dmft(cfg, samples=8000, seed=0)
    sim = ds.simulate(cfg, d=1000, replicas=8, seed=0)
    for obs in sim.recorded:
        diff = np.abs(theory.mean(obs) - sim.mean(obs))
        bound = 4 * np.sqrt(theory.sem(obs) ** 2 + sim.sem(obs) ** 2) + 0.01
        assert np.all(diff <= bound), (obs, float((diff - bound).max()))
    # The runs learn: the test loss falls by more than its error.
    loss, sem = theory.mean("test_loss"), theory.sem("test_loss")
    assert loss[-1] < loss[0] - 5 * sem[-1]


def test_same_seed_same_numbers_whatever_the_threads(tmp_path):
    cfg = ds.Config(**SETTINGS["tanh K=3 on the sign teacher, plain SGD"]).replace(steps=10)
    one = ds.solve_dmft(cfg, samples=1200, seed=3, threads=1)
    two = ds.solve_dmft(cfg, samples=1200, seed=3, threads=2)
    for name in one.recorded:
        assert np.array_equal(one[name], two[name]), name
    back = ds.load(one.save(tmp_path / "net_dmft.npz"))
    assert isinstance(back, ds.NetworkDMFTResult) and back.groups == 8 and back.samples == 1200
    assert np.array_equal(back.M, one.M) and np.array_equal(back.C, one.C) and back.R.shape == (8, 10, 3, 10, 3)
    assert back.to_xarray()["C_sem"].dims == ("t", "unit", "t_prime", "unit_b")


@pytest.mark.parametrize("fields, kwargs, parameter", [
    (dict(), dict(method="iterate"), "method"),
    (dict(), dict(samples=10, groups=8), "samples"),
])
def test_what_the_network_dmft_refuses_is_named(fields, kwargs, parameter):
    cfg = ds.Config(data="teacher", teacher="linear", loss="square", hidden=2, steps=5, **fields)
    with pytest.raises(ds.InvalidParameterError) as caught:
        ds.solve_dmft(cfg, **{"samples": 200, **kwargs})
    assert caught.value.parameter == parameter


def test_fdt_of_a_committee_in_equilibrium_gives_the_langevin_temperature():
    # Langevin GD of erf units with the square loss and a ridge samples exp(-E/T): every
    # block obeys chi = dC / T, so the trace over the units and each unit's block give T
    # up to the O(lr) error of the discretisation (measured 0.1033 at lr = 0.1, 0.1017 at
    # lr = 0.05 with T = 240; the single unit's is of the same size) and the Monte Carlo
    # error; the curve is a line within its noise.
    cfg = ds.Config(data="teacher", teacher="linear", loss="square", lam=0.5, temperature=0.1, lr=0.1, steps=100,
                    hidden=2, activation="erf", teacher_hidden=2, teacher_activation="erf")
    res = ds.solve_dmft(cfg, samples=1200, seed=0, response="tangent")
    for unit in (None, 0, 1):
        curve = ds.fdt(res, t_w=6.0, unit=unit)
        assert abs(curve.effective_temperature - 0.1) < 0.006 + 4 * curve.effective_temperature_sem, unit
        assert curve.residual_ratio < 3, unit
    assert curve.chi.shape == curve.chi_sem.shape == (40,)


def test_fdt_at_one_unit_is_the_single_unit_fdt():
    # The network solver's blocks at K = 1 against the single-unit DMFT: the curves
    # point by point and the temperatures within 4 combined standard errors.
    cfg = ds.Config(data="teacher", teacher="linear", loss="square", lam=0.5, temperature=0.1, lr=0.1, steps=60)
    net, one = network_and_single_unit(cfg, samples=2000)
    for t_w in (1.0, 3.0):
        with warnings.catch_warnings():  # at t_w = 1 not yet a line, for both alike
            warnings.simplefilter("ignore", RuntimeWarning)
            a, b = ds.fdt(net, t_w), ds.fdt(one, t_w)
        for x, y, sx, sy in ((a.chi, b.chi, a.chi_sem, b.chi_sem), (a.dC, b.dC, a.dC_sem, b.dC_sem)):
            assert np.all(np.abs(x - y) <= 4 * np.hypot(sx, sy) + 1e-12)
        gap = abs(a.effective_temperature - b.effective_temperature)
        assert gap < 4 * np.hypot(a.effective_temperature_sem, b.effective_temperature_sem)


def test_fdt_of_a_network_names_what_it_cannot_use():
    cfg = ds.Config(data="teacher", teacher="linear", loss="square", hidden=2, steps=6, temperature=0.1)
    res = ds.solve_dmft(cfg, samples=400)
    with pytest.raises(ds.InvalidParameterError) as caught:
        ds.fdt(res, 1.0, unit=2)
    assert caught.value.parameter == "unit"
    without = ds.solve_dmft(cfg, samples=400, keep_groups=False)
    assert without.C is None
    with pytest.raises(ds.InvalidParameterError, match="keep_groups=True") as caught:
        ds.fdt(without, 1.0)
    assert caught.value.parameter == "result"


def test_the_sgf_of_a_committee_is_the_simulation_at_small_lr(tmp_path):
    # The network SGF from lr = 0.2, 0.1, 0.05 (order 2) against the simulation at lr =
    # 0.025 (whose own O(lr) error is 4x below the finest level's): every observable and
    # entry of M and Q within 4 combined standard errors plus 0.01 on the coarse grid.
    cfg = ds.Config(hidden=2, activation="erf", data="teacher", teacher="linear", loss="square", teacher_hidden=2,
                    teacher_activation="erf", alpha=3.0, lr=0.2, batch=0.5, tau=1.0, steps=16, m0=0.0)
    res = ds.sgf(cfg, samples=4000, seed=0)
    assert isinstance(res.levels[0], ds.NetworkDMFTResult) and res.observables == ("train_loss", "test_loss")
    assert [level.t.size for level in res.levels] == [16, 31, 61]
    sim = ds.simulate(cfg.replace(lr=0.025, steps=121), d=1000, replicas=8, seed=0)
    for name in ("test_loss", "train_loss", "M", "Q"):
        gap = np.abs(res.mean(name) - sim.mean(name)[::8])
        assert np.all(gap <= 4 * np.hypot(res.sem(name), sim.sem(name)[::8]) + 0.01), name
    # The levels are the network DMFT at their lr, same seed: the finest bit for bit.
    finest = ds.solve_dmft(cfg.replace(lr=0.05, steps=61), samples=4000, seed=0, keep_groups=False)
    assert np.array_equal(res.levels[-1].M, finest.M)
    back = ds.load(res.save(tmp_path / "sgf_net.npz"))
    assert isinstance(back, ds.SGFResult) and np.array_equal(back.mean("M"), res.mean("M"))


def test_the_ladder_of_a_network_keeps_the_core_rules():
    cfg = ds.Config(data="teacher", teacher="linear", loss="square", hidden=2, steps=6, batch=0.5)
    with pytest.raises(ds.InvalidParameterError) as caught:
        ds.sgf(cfg, samples=400)  # plain SGD: no flow at fixed b
    assert caught.value.parameter == "tau"
    with pytest.raises(ds.InvalidParameterError) as caught:
        ds.sgf(cfg.replace(tau=1.0), lrs=(0.5, 0.3), samples=400)
    assert caught.value.parameter == "lrs"


def test_the_relu_committee_of_the_published_simulations_in_the_dmft():
    # The setting where the one public committee DMFT drops ReLU's kink term: a ReLU
    # committee (a = (1, -1)/sqrt 2) learning tanh(h*_1 + h*_2^3 - 3 h*_2) by GD at
    # alpha = 3, T = 7, against that group's simulation files (d = 5000, 32 runs). With
    # 1e5 effective samples (theirs used 1e7) every entry of M, Q and the test loss at
    # every step agrees within 4 combined standard errors.
    import json
    import math
    from pathlib import Path

    peer = json.loads((Path(__file__).parent / "data" / "peer_committee.json").read_text())["runs"]["3"]
    a = 1 / math.sqrt(2)
    cfg = ds.Config(data="teacher", teacher="linear", loss="square", alpha=3.0, lam=0.0, lr=0.2, steps=7,
                    hidden=2, second_layer=[a, -a], activation="relu", teacher_hidden=2, m0=0.0)
    res = ds.solve_dmft(cfg, samples=100_000, seed=0,
                        target=lambda h, eps: np.tanh(h[:, 0] + h[:, 1] ** 3 - 3 * h[:, 1]))
    assert isinstance(res, ds.NetworkDMFTResult)
    for name in ("M", "Q", "test_loss"):
        theirs, theirs_sem = np.array(peer[name]), np.array(peer[name + "_sem"])
        z = np.abs(res.mean(name) - theirs)[1:] / np.sqrt(res.sem(name) ** 2 + theirs_sem**2)[1:]
        assert z.max() < 4, (name, z.max())


def test_integration_by_parts_agrees_with_the_tangent_on_smooth_units():
    # response="stein" (eq. 8.7) against the exact tangent (eq. 8.4) on the same smooth
    # problem and seed: every entry within 4 combined standard errors; its errors are
    # larger (Q's about 2.3x at 8000 samples: the price of O(t K^2) per sample).
    cfg = ds.Config(data="teacher", teacher="sign", loss="logistic", alpha=2.0, lam=0.05, lr=0.1, batch=0.3,
                    activation="erf", steps=30, hidden=2)
    stein = ds.solve_dmft(cfg, samples=8000, seed=0, response="stein")
    tangent = ds.solve_dmft(cfg, samples=8000, seed=0, response="tangent")
    assert worst_z(stein, tangent, [o for o in stein.recorded if o not in ("C", "R")]) < 4
    ratio = np.median(stein.sem("Q")[1:] / tangent.sem("Q")[1:])  # t = 0: no spread
    assert 0.7 < ratio < 4.0, ratio
    with pytest.raises(ds.InvalidParameterError, match="'tangent' needs a smooth unit") as caught:
        ds.solve_dmft(cfg.replace(activation="relu"), samples=200, response="tangent")
    assert caught.value.parameter == "response"
    with pytest.raises(ds.InvalidParameterError, match="must be 'auto', 'tangent' or 'stein'"):
        ds.solve_dmft(cfg, samples=200, response="probe")


@pytest.mark.parametrize("unit, per_a", [("relu", 0.5), ("erf", 1 / np.pi)])
def test_the_first_gd_step_of_the_dmft_is_the_closed_form(unit, per_a):
    # M_k(1) = lr alpha a_k E[y h* sigma'(h_k)] from M(0) = 0, Q(0) = I (test_network.py
    # derives per_a; for relu it is the kink-free E[y h* 1(h_k > 0)] = 1/2): to 1e-3.
    teacher = "linear" if unit == "relu" else "erf"
    cfg = ds.Config(data="teacher", teacher="linear", loss="square", alpha=2.0, lr=0.2, steps=2, hidden=2,
                    second_layer=[0.7, -0.7], activation=unit, teacher_activation=teacher, m0=0.0)
    res = ds.solve_dmft(cfg, samples=400_000, seed=0)
    expected = 0.2 * 2.0 * np.array([0.7, -0.7]) * per_a
    got, sem = res.mean("M")[1, :, 0], res.sem("M")[1, :, 0]
    assert np.all(np.abs(got - expected) < 1e-3) and np.all(np.abs(got - expected) < 4 * sem + 1e-4)
    data = res.to_xarray()
    assert data["M"].dims == ("run", "t", "unit", "teacher_unit") and data.attrs["kind"] == "network_dmft"


@pytest.mark.slow
def test_the_published_relu_committee_to_t_200():
    # The same setting as the published files, 200 steps instead of 7 (lambda = 0: the
    # test loss falls, then rises as the units overfit): DMFT (integration by parts, 20 000
    # samples) against the simulation at d = 1000, 8 runs, within 4 combined se + 0.01.
    import math

    a = 1 / math.sqrt(2)
    cfg = ds.Config(data="teacher", teacher="linear", loss="square", alpha=3.0, lam=0.0, lr=0.2, steps=200,
                    hidden=2, second_layer=[a, -a], activation="relu", teacher_hidden=2, m0=0.0)

    def target(h, eps):
        return np.tanh(h[:, 0] + h[:, 1] ** 3 - 3 * h[:, 1])

    theory = ds.solve_dmft(cfg, samples=20_000, seed=0, target=target)
    sim = ds.simulate(cfg, d=1000, replicas=8, seed=0, target=target)
    for obs in sim.recorded:
        diff = np.abs(theory.mean(obs) - sim.mean(obs))
        assert np.all(diff <= 4 * np.sqrt(theory.sem(obs) ** 2 + sim.sem(obs) ** 2) + 0.01), obs
    loss = theory.mean("test_loss")
    assert loss.argmin() < 50 and loss[-1] > loss.min() + 0.1  # the overfitting bump
