"""``to_xarray()``: the results as labelled arrays, with the values, times and config of
the result (the ``[xarray]`` extra)."""

import json
import sys

import numpy as np
import pytest

import dmft_sgd as ds

xr = pytest.importorskip("xarray")

CFG = ds.Config(alpha=2.0, delta=0.5, lam=0.1, lr=0.2, batch=0.3, steps=12)
REGRESSION = ds.Config(data="teacher", teacher="linear", noise=0.1, lr=0.2, batch=0.5, steps=8)


@pytest.fixture(scope="module")
def dmft():
    return ds.solve_dmft(CFG, samples=400, seed=3, threads=1)


@pytest.fixture(scope="module")
def sim():
    return ds.simulate(CFG, d=40, replicas=3, seed=5, threads=1)


def test_dmft_round_trip(dmft):
    out = dmft.to_xarray()
    assert isinstance(out, xr.Dataset)
    np.testing.assert_array_equal(out.t.values, dmft.t)
    np.testing.assert_array_equal(out.t_prime.values, dmft.t)
    for name in ds.OBSERVABLES:
        np.testing.assert_array_equal(out[name].values, getattr(dmft, name))
        np.testing.assert_array_equal(out[f"{name}_sem"].values, dmft.sem(name))
        assert out[name].dims == ("t",)
    for name in ("C", "R", "M_C", "M_R"):
        assert out[name].dims == ("t", "t_prime")
        np.testing.assert_array_equal(out[name].values, getattr(dmft, name))
    np.testing.assert_array_equal(out.mu.values, dmft.mu)
    # The single pass has no iterations: no changes, and no empty dim for them.
    assert "changes" not in out and "change_noise" not in out and "iteration" not in out.sizes
    assert ds.Config.from_dict(json.loads(out.attrs["config"])) == dmft.config
    for name in ("seed", "samples", "groups", "response", "method", "band", "response_samples"):
        assert out.attrs[name] == getattr(dmft, name)
    assert out.attrs["converged"] == int(dmft.converged)
    # Labelled selection: the value at a time is the array's.
    assert float(out.m.sel(t=dmft.t[4])) == dmft.m[4]
    assert float(out.C.sel(t=dmft.t[3], t_prime=dmft.t[5])) == dmft.C[3, 5]


def test_dmft_without_kernels_or_groups():
    res = ds.solve_dmft(REGRESSION, samples=200, seed=0, threads=1, groups=1, keep_kernels=False)
    out = res.to_xarray()
    assert "M_C" not in out and "M_R" not in out and "mu" not in out
    assert not any(name.endswith("_sem") for name in out.data_vars)
    # A regression teacher records no classification error.
    assert set(ds.OBSERVABLES) - set(out.data_vars) == {"train_error", "test_error"}
    np.testing.assert_array_equal(out.test_loss.values, res.test_loss)
    assert ds.Config.from_dict(json.loads(out.attrs["config"])) == REGRESSION


def test_simulation_round_trip(sim):
    out = sim.to_xarray()
    np.testing.assert_array_equal(out.t.values, sim.t)
    np.testing.assert_array_equal(out.replica.values, np.arange(3))
    for name in ds.OBSERVABLES:
        assert out[name].dims == ("replica", "t")
        np.testing.assert_array_equal(out[name].values, getattr(sim, name))
        np.testing.assert_array_equal(out[f"{name}_mean"].values, sim.mean(name))
        np.testing.assert_array_equal(out[f"{name}_sem"].values, sim.sem(name))
    assert ds.Config.from_dict(json.loads(out.attrs["config"])) == sim.config
    assert (out.attrs["d"], out.attrs["replicas"], out.attrs["seed"]) == (40, 3, 5)
    # xarray's own reductions agree with the result's.
    np.testing.assert_allclose(out.m.mean("replica").values, sim.mean("m"), rtol=1e-15)


def test_product_sweep():
    grid = {"lam": [0.05, 0.1], "batch": [0.3, 0.6, 1.0]}
    res = ds.sweep(CFG, grid, samples=200, threads=1)
    out = res.to_xarray()
    assert out.test_error.dims == ("lam", "batch")
    np.testing.assert_array_equal(out.lam.values, grid["lam"])
    np.testing.assert_array_equal(out.batch.values, grid["batch"])
    for name in ds.OBSERVABLES:
        np.testing.assert_array_equal(out[name].values, res.array(name))
        np.testing.assert_array_equal(out[f"{name}_sem"].values, res.array(name, sem=True))
    # The cell of (lam, batch) is that point's final value.
    i = res.points.index({"lam": 0.1, "batch": 0.6})
    assert float(out.m.sel(lam=0.1, batch=0.6)) == res.results[i].m[-1]
    assert int(out.seed.sel(lam=0.1, batch=0.6)) == res.seeds[i]
    assert ds.Config.from_dict(json.loads(out.attrs["base_config"])) == CFG
    at = res.to_xarray(at=1.0)
    k = int(round(1.0 / CFG.lr))
    assert float(at.q.sel(lam=0.05, batch=1.0)) == res.results[res.points.index(
        {"lam": 0.05, "batch": 1.0})].q[k]


def test_list_sweep_with_a_failed_point():
    points = [{"lam": 0.1}, {"batch": 0.5, "lam": 0.2}, {"batch": 2.0}]  # batch > 1 is invalid
    res = ds.sweep(CFG, points, kind="simulate", d=30, replicas=2, threads=1)
    out = res.to_xarray()
    assert out.m.dims == ("point",)
    # A field a point leaves unchanged is NaN in its (numeric) coordinate.
    assert out.lam.dtype == np.float64 and out.batch.dtype == np.float64
    np.testing.assert_array_equal(out.lam.values, [0.1, 0.2, np.nan])
    np.testing.assert_array_equal(out.batch.values, [np.nan, 0.5, 2.0])
    assert list(out.status.values) == ["computed", "computed", "failed"]
    assert float(out.m[0]) == res.results[0].mean("m")[-1]
    assert np.isnan(out.m[2]) and np.isnan(out.m_sem[2])
    assert out.attrs["failures"] == 1 and out.attrs["sweep_kind"] == "simulate"


def test_missing_xarray_names_the_extra(dmft, monkeypatch):
    monkeypatch.setitem(sys.modules, "xarray", None)  # import xarray raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'dmft-sgd\[xarray\]'"):
        dmft.to_xarray()


def test_an_sgf_result_as_a_dataset():
    res = ds.sgf(ds.Config(lr=0.2, batch=0.3, tau=1.0, steps=11), samples=800, seed=1)
    data = res.to_xarray()
    assert data.attrs["kind"] == "sgf" and data.attrs["order"] == 2
    assert ds.Config.from_dict(json.loads(data.attrs["config"])) == res.config
    assert np.array_equal(data["t"].values, res.t) and np.array_equal(data["lr"].values, res.lrs)
    assert np.array_equal(data["test_error"].values, res["test_error"])
    assert np.array_equal(data["test_error_sem"].values, res.sem("test_error"))
    assert np.array_equal(data["q_discretisation_error"].values, res.discretisation_error("q"))
    assert data["m_levels"].dims == ("lr", "t")
    assert np.allclose(data["m_levels"].values[-1], res.levels[-1].m[::4], rtol=1e-14)  # the finest, subsampled


# --- netCDF (issue 25, item 12) ---------------------------------------------------------


def test_the_xarray_extra_brings_a_netcdf_backend():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    extra = pyproject["project"]["optional-dependencies"]["xarray"]
    assert any(req.startswith("h5netcdf") for req in extra) and any(req.startswith("h5py") for req in extra)


def _round_trip(data, path):
    """`data` written with to_netcdf (the default engine) and read back."""
    data.to_netcdf(path)
    with xr.open_dataset(path) as back:
        return back.load()


def test_a_dmft_result_round_trips_through_netcdf(dmft, tmp_path):
    pytest.importorskip("h5netcdf")  # the [xarray] extra's backend
    out = dmft.to_xarray()
    back = _round_trip(out, tmp_path / "dmft.nc")
    assert back.identical(out) and dict(back.sizes) == {"t": 12, "t_prime": 12}
    np.testing.assert_array_equal(back.C.values, dmft.C)
    np.testing.assert_array_equal(back.test_error_sem.values, dmft.sem("test_error"))
    assert ds.Config.from_dict(json.loads(back.attrs["config"])) == dmft.config
    # The iteration's changes keep their dim.
    iterated = ds.solve_dmft(CFG.replace(steps=6), samples=200, seed=0, threads=1, method="iterate")
    out = iterated.to_xarray()
    assert out.sizes["iteration"] == iterated.changes.size > 0
    back = _round_trip(out, tmp_path / "iterate.nc")
    assert back.identical(out)
    np.testing.assert_array_equal(back.changes.values, iterated.changes)


def test_a_sweep_over_plain_and_persistent_sgd_round_trips_through_netcdf(tmp_path):
    pytest.importorskip("h5netcdf")
    res = ds.sweep(CFG.replace(steps=6), {"tau": [None, 2.0], "batch": [0.3, 1.0]}, samples=200, threads=1)
    out = res.to_xarray()
    # Plain SGD (tau=None) is NaN in a float coordinate, not None among objects.
    assert out.tau.dtype == np.float64
    np.testing.assert_array_equal(out.tau.values, [np.nan, 2.0])
    back = _round_trip(out, tmp_path / "sweep.nc")
    assert back.identical(out)
    assert back.seed.dtype == np.uint64 and list(back.seed.values.ravel()) == res.seeds
    assert float(back.m.sel(tau=2.0, batch=0.3)) == res.results[res.points.index({"tau": 2.0, "batch": 0.3})].m[-1]
    assert float(back.m.isel(tau=0).sel(batch=1.0)) == res.results[res.points.index({"tau": None, "batch": 1.0})].m[-1]


def test_a_simulation_and_an_sgf_result_round_trip_through_netcdf(sim, tmp_path):
    pytest.importorskip("h5netcdf")
    out = sim.to_xarray()
    assert _round_trip(out, tmp_path / "sim.nc").identical(out)
    sgf = ds.sgf(ds.Config(lr=0.2, batch=0.3, tau=1.0, steps=5), samples=200, seed=1)
    out = sgf.to_xarray()
    back = _round_trip(out, tmp_path / "sgf.nc")
    assert back.identical(out)
    np.testing.assert_array_equal(back.q.values, sgf["q"])
