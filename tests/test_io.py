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
    with pytest.raises(ValueError, match="not a dmft-sgd result file"):
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


@pytest.mark.parametrize("name, content", [
    ("run.py", b"import dmft_sgd as ds\nprint(ds.__version__)\n"),
    ("settings.toml", b"lr = [0.1, 0.2\n"),
    ("empty.npz", b""),
])
def test_a_file_that_is_not_an_archive_is_named_as_such_without_numpys_pickle_text(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        ds.load(path)
    assert str(info.value) == f"{path}: not a dmft-sgd result file (not an .npz archive)"


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


def test_dmft_round_trip_keeps_the_two_time_errors_and_the_groups(tmp_path):
    res = ds.solve_dmft(ds.Config(batch=0.3, lr=0.2, steps=10), samples=400, seed=2)
    assert res.C_groups is not None and res.M_C_sem is not None
    back = ds.load(res.save(tmp_path / "dmft.npz"))
    for name in ("C_sem", "R_sem", "M_C_sem", "M_R_sem", "mu_sem", "C_groups", "R_groups"):
        np.testing.assert_array_equal(getattr(back, name), getattr(res, name))
    assert set(back.group_observables) == set(res.group_observables) == set(ds.OBSERVABLES)
    for name in ds.OBSERVABLES:
        np.testing.assert_array_equal(back.group_values(name), res.group_values(name))
    # Without the kernels and the groups, and with one group: what is absent stays None.
    lean = ds.solve_dmft(res.config, samples=400, seed=2, keep_kernels=False, keep_groups=False)
    back = ds.load(lean.save(tmp_path / "lean.npz"))
    assert back.M_C_sem is None and back.C_groups is None and back.mu_sem is None
    np.testing.assert_array_equal(back.sem("R"), lean.sem("R"))
    one = ds.load(ds.solve_dmft(res.config, samples=400, groups=1).save(tmp_path / "one.npz"))
    assert one.C_sem is None and one.group_values("q").shape == (1, 10)
    # A version-3 file missing an array it should hold is refused.
    kind, meta, arrays = res._payload()
    from dmft_sgd import _io

    for missing, shape in (("C_sem", r"\(10, 10\)"), ("q_groups", r"\(8, 10\)")):
        path = _io.write(tmp_path / "broken.npz", kind, meta, {k: v for k, v in arrays.items() if k != missing})
        with pytest.raises(ValueError, match=rf"array '{missing}' is missing or not float64 of shape {shape}"):
            ds.load(path)


def test_files_of_format_version_2_still_load_without_the_two_time_errors(tmp_path, monkeypatch):
    from dmft_sgd import _io

    res = ds.solve_dmft(ds.Config(steps=8), samples=400, seed=0)
    kind, meta, arrays = res._payload()
    # The version-2 layout: the observables, their sems, C, R, the kernels, changes.
    new = {"C_sem", "R_sem", "M_C_sem", "M_R_sem", "mu_sem", "C_groups", "R_groups",
           *(f"{name}_groups" for name in ds.OBSERVABLES)}
    old = {k: v for k, v in arrays.items() if k not in new}
    assert set(old) == {"t", *ds.OBSERVABLES, *(f"{o}_sem" for o in ds.OBSERVABLES), "C", "R", "M_C", "M_R",
                        "mu", "changes", "change_noise"}
    with monkeypatch.context() as m:
        m.setattr(_io, "VERSION", 2)
        path = _io.write(tmp_path / "v2.npz", kind, meta, old)
    back = ds.load(path)
    for name in ("C_sem", "R_sem", "M_C_sem", "M_R_sem", "mu_sem", "C_groups", "R_groups", "group_observables"):
        assert getattr(back, name) is None, name
    np.testing.assert_array_equal(back.C, res.C)
    np.testing.assert_array_equal(back.sem("q"), res.sem("q"))
    with pytest.raises(ValueError, match=r"no standard error of C: it was saved before the two-time errors \(format version 3\)"):
        back.sem("C")
    with pytest.raises(ValueError, match="no groups' values"):
        back.group_values("q")
    with pytest.raises(ValueError, match="keep_groups=True"):
        back.group_values("C")
