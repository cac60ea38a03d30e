"""Honest failure: a run that blows up is reported, before it overflows (theory.md 4.6),
by both engines, with its facts as fields; refusals carry theirs too (issue 25, items 1,
4 (the failing step's rate), 5 and 8)."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

import dmft_sgd as ds

# The issue's case: returned q = 7.5e60 with a healthy-looking test error 0.11 before.
BLOWS_UP = ds.Config(lam=0.1, lr=50.0, batch=1.0, steps=200)


def check_beyond_bound(exc: ds.DivergenceError, run: str) -> None:
    assert exc.run == run and exc.observable in ("m", "q")
    assert exc.value is not None and exc.bound is not None
    # q against the bound 1e8 max(1, m0^2 + q0, E[y^2]) = 1e8 here, |m| against its root.
    assert exc.bound == (1e8 if exc.observable == "q" else 1e4)
    assert abs(exc.value) > exc.bound and np.isfinite(exc.value)
    assert f"diverged at step {exc.step}: {exc.observable} = " in str(exc)


def test_dmft_reports_a_blow_up_before_anything_overflows():
    with pytest.raises(ds.DivergenceError) as caught:
        ds.solve_dmft(BLOWS_UP, samples=1000, seed=0)
    check_beyond_bound(caught.value, "DMFT")
    assert 1 <= caught.value.step < 20 and caught.value.lr == 50.0


@pytest.mark.parametrize("threads", [1, 2])
def test_simulation_reports_a_blow_up_naming_the_lowest_replica(threads):
    # Every replica blows up; the lowest one is named whichever finished first.
    with pytest.raises(ds.DivergenceError) as caught:
        ds.simulate(BLOWS_UP, d=200, replicas=4, seed=0, threads=threads)
    check_beyond_bound(caught.value, "simulation replica 0")
    assert 1 <= caught.value.step < 20


def test_trajectory_on_user_data_reports_a_blow_up():
    rng = np.random.default_rng(1)
    d, n = 40, 80
    X = rng.standard_normal((n, d))
    v = rng.standard_normal(d)
    v *= np.sqrt(d) / np.linalg.norm(v)
    y = np.sign(X @ v)
    with pytest.raises(ds.DivergenceError) as caught:
        ds.sgd_trajectory(X, y, v, np.zeros(d), ds.Config(loss="square", lr=5.0, batch=1.0, steps=100))
    assert caught.value.run == "sgd_trajectory"
    assert caught.value.value is not None and abs(caught.value.value) > caught.value.bound


@pytest.mark.parametrize("engine", ["dmft", "simulate"])
def test_a_schedule_names_the_rate_of_the_failing_step(engine):
    # Ten stable steps at 0.1, then 50: the error names 50, not the first rate.
    cfg = ds.Config(lam=0.1, lr=[0.1] * 10 + [50.0] * 20, batch=1.0, steps=30)
    with pytest.raises(ds.DivergenceError, match=r"now 50\)") as caught:
        if engine == "dmft":
            ds.solve_dmft(cfg, samples=1000, seed=0)
        else:
            ds.simulate(cfg, d=100, replicas=2, seed=0)
    assert caught.value.lr == 50.0 and caught.value.step > 10


def test_the_bound_follows_the_labels_scale():
    # Square-loss GD is linear in the labels: labels 1e6 times larger give weights 1e6
    # times larger, q = 1e12 times larger (7e9, past 1e8): a healthy run the bound must
    # not flag, since E[y^2] is part of the scale.
    rng = np.random.default_rng(2)
    d, n = 30, 90
    X = rng.standard_normal((n, d))
    v = rng.standard_normal(d)
    v *= np.sqrt(d) / np.linalg.norm(v)
    y = X @ v / np.sqrt(d) + 0.1 * rng.standard_normal(n)
    cfg = ds.Config(data="teacher", teacher="linear", loss="square", lam=0.1, lr=0.1, batch=1.0, steps=100)
    small = ds.sgd_trajectory(X, y, v, np.zeros(d), cfg)
    large = ds.sgd_trajectory(X, 1e6 * y, v, np.zeros(d), cfg)
    assert large.q[-1] > 1e8
    np.testing.assert_allclose(large.q, 1e12 * small.q, rtol=1e-9)


def test_divergence_fields_survive_pickling():
    # Process pools and dask move exceptions by pickle.
    try:
        ds.solve_dmft(BLOWS_UP, samples=400, seed=0)
    except ds.DivergenceError as exc:
        again = pickle.loads(pickle.dumps(exc))
        assert (again.run, again.step, again.observable, again.value, again.bound, again.lr) == (
            exc.run, exc.step, exc.observable, exc.value, exc.bound, exc.lr)
        assert str(again) == str(exc)
    else:
        pytest.fail("no divergence")


def test_cli_exits_1_on_the_issue_example(tmp_path):
    for command in (["dmft", "--samples", "1000"], ["simulate", "--d", "100", "--replicas", "2"]):
        proc = subprocess.run(
            [sys.executable, "-m", "dmft_sgd.cli", *command, "--lr", "1e3", "--batch", "1",
             "--steps", "50", "--out", str(tmp_path)], capture_output=True, text=True)
        assert proc.returncode == 1, proc.stderr
        assert "diverged at step 2: m = " in proc.stderr and "try a smaller lr (now 1000)" in proc.stderr


@pytest.mark.parametrize(
    "make, parameter, value",
    [
        (lambda: ds.Config(batch=2.0), "batch", 2.0),
        (lambda: ds.Config(loss="hinge2"), "loss", "hinge2"),
        (lambda: ds.solve_dmft(ds.Config(steps=5), samples=3), "samples", 3),
        (lambda: ds.solve_dmft(ds.Config(steps=5), samples=-4), "samples", -4),
        (lambda: ds.solve_dmft(ds.Config(steps=5), samples=100, groups=80), "groups", 80),
        (lambda: ds.simulate(ds.Config(steps=5), d=0), "d", 0),
    ],
)
def test_refusals_carry_the_parameter_and_value(make, parameter, value):
    with pytest.raises(ds.InvalidParameterError) as caught:
        make()
    assert isinstance(caught.value, ValueError)
    assert caught.value.parameter == parameter and caught.value.value == value
    assert str(caught.value).startswith(parameter)


def test_cli_refuses_a_schedule_with_a_rate(tmp_path):
    schedule = tmp_path / "rates.txt"
    schedule.write_text("0.1 0.2 0.1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "dmft_sgd.cli", "dmft", "--lr-schedule", str(schedule), "--lr", "0.1",
         "--out", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "--lr-schedule and --lr contradict each other" in proc.stderr
