"""Saving and loading results: exact round trip, atomic writes, clear errors, no pickles."""

import json
import os
import stat
import zipfile

import numpy as np
import pytest

import dmft_sgd as ds


@pytest.fixture(scope="module")
def sim():
    return ds.simulate(ds.Config(clusters=3, batch=0.5, tau=0.5, steps=6), d=20, replicas=3, seed=8)


def test_round_trip_is_exact(sim, tmp_path):
    path = sim.save(tmp_path / "run")
    assert path.name == "run.npz"
    back = ds.load(path)
    assert isinstance(back, ds.SimulationResult)
    assert back.config == sim.config
    assert (back.d, back.replicas, back.seed) == (sim.d, sim.replicas, sim.seed)
    for name in ("t", *ds.OBSERVABLES):
        np.testing.assert_array_equal(getattr(back, name), getattr(sim, name))
    assert [p.name for p in tmp_path.iterdir()] == ["run.npz"]  # no temporary file left


def test_foreign_truncated_and_tampered_files_are_refused(sim, tmp_path):
    good = sim.save(tmp_path / "good.npz")

    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.arange(3))
    with pytest.raises(ValueError, match="no header"):
        ds.load(foreign)

    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match="not a readable dmft-sgd result file"):
        ds.load(truncated)

    bare = tmp_path / "bare.npz"
    with open(bare, "wb") as fh:
        np.save(fh, np.arange(4.0))
    with pytest.raises(ValueError, match="not an archive"):
        ds.load(bare)

    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a readable"):
        ds.load(text)

    def rewrite(name, **changes):
        with np.load(good) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(str(arrays["__meta__"]))
        for key, value in changes.pop("meta", {}).items():
            meta[key] = value
        arrays["__meta__"] = np.array(json.dumps(meta))
        arrays.update(changes)
        path = tmp_path / name
        np.savez(path, **arrays)
        return path

    with pytest.raises(ValueError, match="format version 99"):
        ds.load(rewrite("v99.npz", meta={"version": 99}))
    with pytest.raises(ValueError, match="'m' is missing or not float64 of shape"):
        ds.load(rewrite("shape.npz", m=np.zeros((2, 2))))
    with pytest.raises(ValueError, match="^batch must be"):
        ds.load(rewrite("cfg.npz", meta={"config": {**sim.config.to_dict(), "batch": 7.0}}))
    with pytest.raises(ValueError, match="unknown result kind"):
        ds.load(rewrite("kind.npz", meta={"kind": "movie"}))


def test_object_arrays_are_never_unpickled(sim, tmp_path):
    path = tmp_path / "pickle.npz"
    np.savez(path, __meta__=np.array([{"format": "dmft-sgd"}], dtype=object))
    with pytest.raises(ValueError, match="not a readable"):
        ds.load(path)
    assert zipfile.is_zipfile(path)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        ds.load(tmp_path / "nope.npz")


def test_files_of_format_version_1_still_load_without_the_test_loss(tmp_path, monkeypatch):
    from dmft_sgd import _io

    cfg = ds.Config(steps=8)
    for result in (ds.solve_dmft(cfg, samples=400, seed=0), ds.simulate(cfg, d=20, replicas=2)):
        kind, meta, arrays = result._payload()
        old = {k: v for k, v in arrays.items() if not k.startswith("test_loss")}
        with monkeypatch.context() as m:
            m.setattr(_io, "VERSION", 1)
            path = _io.write(tmp_path / f"{kind}.npz", kind, meta, old)
        back = ds.load(path)
        assert back.test_loss is None
        np.testing.assert_array_equal(back.test_error, result.test_error)


@pytest.fixture
def umask():
    """Sets the umask (call it with a mask); the old one is restored after the test."""
    before = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(before)


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)], ids=["022", "077", "002"])
def test_saved_files_follow_the_umask(sim, tmp_path, umask, mask, mode):
    umask(mask)
    path = sim.save(tmp_path / "run.npz")
    assert stat.S_IMODE(path.stat().st_mode) == mode
    sim.save(path)  # overwriting too
    assert stat.S_IMODE(path.stat().st_mode) == mode
