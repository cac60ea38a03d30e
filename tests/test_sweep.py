"""Parameter sweeps: same numbers as individual runs on every executor, failures kept
apart, tables, arrays, files."""

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

import dmft_sgd as ds

BASE = ds.Config(lr=0.2, lam=0.05, steps=15)
GRID = {"batch": [0.3, 1.0], "tau": [None, 2.0]}


def individual(kind, changes, **kwargs):
    cfg = BASE.replace(**changes)
    seed = ds.point_seed(0, changes)
    if kind == "dmft":
        return ds.solve_dmft(cfg, seed=seed, **kwargs)
    return ds.simulate(cfg, seed=seed, **kwargs)


def assert_same(a, b):
    for name in ds.OBSERVABLES:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


@pytest.mark.parametrize("kind,kwargs", [("dmft", dict(samples=400)), ("simulate", dict(d=30, replicas=3))])
def test_default_pool_equals_individual_runs(kind, kwargs):
    result = ds.sweep(BASE, GRID, kind=kind, **kwargs)
    assert [p for p in result.points] == [
        {"batch": 0.3, "tau": None}, {"batch": 0.3, "tau": 2.0}, {"batch": 1.0, "tau": None}, {"batch": 1.0, "tau": 2.0},
    ]
    assert result.failures == []
    for changes, res in zip(result.points, result.results):
        assert_same(res, individual(kind, changes, **kwargs))
    assert result.array("test_error").shape == (2, 2)


@pytest.mark.parametrize("make", [lambda: ThreadPoolExecutor(2), lambda: ProcessPoolExecutor(2)],
                         ids=["threads", "processes"])
def test_executors_give_the_same_numbers(make):
    reference = ds.sweep(BASE, GRID, samples=400)
    with make() as pool:
        result = ds.sweep(BASE, GRID, executor=pool, samples=400, threads=1)
    for a, b in zip(reference.results, result.results):
        assert_same(a, b)
    assert result.seeds == reference.seeds


def test_dask_local_cluster_gives_the_same_numbers():
    distributed = pytest.importorskip("distributed")
    reference = ds.sweep(BASE, GRID, samples=400)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            result = ds.sweep(BASE, GRID, executor=client, samples=400, threads=1)
    for a, b in zip(reference.results, result.results):
        assert_same(a, b)


def test_failing_points_are_reported_and_the_rest_kept():
    grid = [{"batch": 0.5}, {"lr": 3.0, "loss": "square", "steps": 300}, {"batch": 0.1, "tau": 0.5}, {"lam": 0.2}]
    result = ds.sweep(BASE, grid, samples=200)
    assert [f["index"] for f in result.failures] == [1, 2]
    assert "DivergenceError" in result.failures[0]["error"] and "diverged at step" in result.failures[0]["error"]
    assert result.failures[0]["config"]["lr"] == 3.0
    assert "tau must be >=" in result.failures[1]["error"] and result.failures[1]["config"] is None
    assert result.results[1] is None and result.results[2] is None
    assert_same(result.results[3], individual("dmft", {"lam": 0.2}, samples=200))
    values = result.array("test_error")
    assert values.shape == (4,) and np.isnan(values[1]) and np.isfinite(values[3])


def test_table_and_time_selection():
    pd = pytest.importorskip("pandas")
    result = ds.sweep(BASE, {"batch": [0.3, 1.0]}, kind="simulate", d=30, replicas=3)
    table = result.table("train_loss")
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == ["batch", "train_loss", "sem", "seed"]
    np.testing.assert_allclose(table["train_loss"], [r.mean("train_loss")[-1] for r in result.results])
    early = result.array("m", at=1.0)  # t = 1.0 is step 5 at lr = 0.2
    np.testing.assert_allclose(early, [r.mean("m")[5] for r in result.results])
    with pytest.raises(ValueError, match="at must be"):
        result.array("m", at="start")


def test_bad_grids_are_refused_before_any_work():
    with pytest.raises(ValueError, match="unknown Config field"):
        ds.sweep(BASE, {"batchsize": [0.1]})
    with pytest.raises(ValueError, match="non-empty sequence"):
        ds.sweep(BASE, {"batch": []})
    with pytest.raises(ValueError, match="kind must be"):
        ds.sweep(BASE, GRID, kind="both")
    with pytest.raises(TypeError, match="grid must be"):
        ds.sweep(BASE, "batch=0.1")


def test_save_and_load_round_trip(tmp_path):
    result = ds.sweep(BASE, {"batch": [0.2, 0.1], "tau": [1.0]}, samples=200)
    assert len(result.failures) == 1  # tau = 1 < lr (1-b)/b = 1.8 at b = 0.1
    back = ds.load(result.save(tmp_path / "sweep.npz"))
    assert isinstance(back, ds.SweepResult)
    assert back.points == result.points and back.seeds == result.seeds and back.axes == result.axes
    assert back.failures == result.failures and back.base_config == result.base_config
    np.testing.assert_array_equal(back.array("q"), result.array("q"))
    assert_same(back.results[0], result.results[0])


def test_a_time_past_some_points_horizon_is_refused_naming_them():
    # Points of different lengths: lr=0.2 x 15 steps ends at t=2.8, lr=0.1 at t=1.4.
    result = ds.sweep(BASE, [{}, {"lr": 0.1}], samples=200)
    np.testing.assert_array_equal(result.array("m", at=1.4), [result.results[0].m[7], result.results[1].m[14]])
    for ask in (lambda: result.array("m", at=2.0), lambda: result.table("m", at=2.0)):
        with pytest.raises(ValueError, match=r"at=2 is past the last time of 1 point\(s\): \{'lr': 0.1\} ends at t=1.4"):
            ask()
    with pytest.raises(ValueError, match="at must be 'final' or a time >= 0"):
        result.array("m", at=-1.0)
    final = result.array("m")
    assert final[1] == result.results[1].m[-1]
    np.testing.assert_array_equal(result.array("m", sem=True), [r.sem("m")[-1] for r in result.results])
