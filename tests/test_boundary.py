"""The typed boundary: one registry of observables (Rust's), the stub, pickling."""

import dataclasses
import pickle
import subprocess
import sys

import numpy as np
import pytest

import dmft_sgd as ds
from dmft_sgd import _core, cli, plot
from dmft_sgd.config import FIELDS

REGISTRY = [entry[0] for entry in _core.OBSERVABLES]
CFG = ds.Config(lr=0.1, batch=0.5, steps=6)


@pytest.fixture(scope="module")
def results():
    rng = np.random.default_rng(0)
    d, n = 20, 30
    v = rng.standard_normal(d)
    v *= np.sqrt(d) / np.linalg.norm(v)
    c = rng.choice([-1.0, 1.0], n)
    X = c[:, None] * v / np.sqrt(d) + np.sqrt(CFG.delta) * rng.standard_normal((n, d))
    return {
        "dmft": ds.solve_dmft(CFG, samples=100, seed=1, threads=1),
        "sim": ds.simulate(CFG, d=30, replicas=3, seed=1, threads=1),
        "traj": ds.sgd_trajectory(X, c, v, np.zeros(d), CFG, seed=1, X_test=X[:10], y_test=c[:10]),
    }


def test_the_registry_is_the_one_list_of_observables():
    assert REGISTRY and len(set(REGISTRY)) == len(REGISTRY)
    assert ds.OBSERVABLES == tuple(REGISTRY)
    assert all(label and text for _, label, text, _ in _core.OBSERVABLES)
    assert set(plot.LABELS) == set(REGISTRY)


def test_every_observable_is_on_every_result_class(results):
    for cls in (ds.DMFTResult, ds.SimulationResult, ds.TrajectoryResult):
        fields = {f.name for f in dataclasses.fields(cls)}
        assert set(REGISTRY) <= fields, cls
        for name in REGISTRY:
            assert name in cls.__doc__
    assert {f"{name}_sem" for name in REGISTRY} <= {f.name for f in dataclasses.fields(ds.DMFTResult)}
    T = CFG.steps
    for name in REGISTRY:
        assert results["dmft"].mean(name).shape == (T,) and results["dmft"].sem(name).shape == (T,)
        assert getattr(results["sim"], name).shape == (3, T) and results["sim"].sem(name).shape == (T,)
        assert getattr(results["traj"], name).shape == (T,)


def test_the_binding_returns_typed_objects_keyed_by_the_registry():
    out = _core.solve_dmft(CFG.to_dict(), samples=100, groups=2, seed=0, threads=1, method="single",
                           response="auto", band=16, response_samples=None, keep_kernels=False,
                           iterations=1, damping=0.5, tol=0.1)
    assert isinstance(out, _core.DmftSolution)
    assert list(out.observables) == REGISTRY and list(out.sem) == REGISTRY
    assert out.C.shape == (6, 6) and out.M_C is None and out.response == "tangent"
    with pytest.raises(AttributeError):
        out.groups = 3
    ens = _core.simulate(CFG.to_dict(), d=10, replicas=2, seed=0, threads=1)
    assert isinstance(ens, _core.Ensemble) and list(ens.observables) == REGISTRY
    # Arguments by name only: a positional call cannot silently swap two of them.
    with pytest.raises(TypeError):
        _core.simulate(CFG.to_dict(), 10, 2, 0, 1)
    # The time axis comes from the core, t_k = k lr.
    np.testing.assert_array_equal(out.t, np.arange(CFG.steps) * CFG.lr)
    np.testing.assert_array_equal(ens.t, out.t)


def test_solver_defaults_and_the_sign_label_observables_are_the_cores():
    import inspect

    defaults = _core.dmft_defaults()
    signature = inspect.signature(ds.solve_dmft).parameters
    for name in ("samples", "seed", "groups", "response", "band", "keep_kernels", "method",
                 "response_samples", "iterations", "damping", "tol"):
        assert signature[name].default == defaults[name], name
    assert (defaults["samples"], defaults["iterations"], defaults["damping"], defaults["tol"]) == (
        20_000, 50, 0.5, 1e-3)
    assert ds.results.ERRORS == ("train_error", "test_error")
    assert [entry[3] for entry in _core.OBSERVABLES] == [name in ds.results.ERRORS for name in REGISTRY]


def test_every_observable_is_in_the_cli_table_and_choices(results):
    table = cli.summary_table(results["dmft"], results["sim"])
    rows = [line.split()[0] for line in table.splitlines()[1:]]
    assert rows == REGISTRY
    sweep = cli.build_parser()._subparsers._group_actions[0].choices["sweep"]
    observable = next(a for a in sweep._actions if a.dest == "observable")
    assert list(observable.choices) == REGISTRY


def test_cli_options_come_from_configs_own_metadata():
    parser = cli.build_parser()._subparsers._group_actions[0].choices["compare"]
    options = {a.dest: a for a in parser._actions}
    for name, info in FIELDS.items():
        assert info.doc.split(";")[0] in options[name].help
    args = cli.build_parser().parse_args(["compare", "--tau", "none", "--steps", "7", "--loss", "square"])
    cfg, _ = cli.settings_from_args(args)
    assert (cfg.tau, cfg.steps, cfg.loss) == (None, 7, "square")
    assert "tau : float or None" in ds.Config.__doc__


@pytest.mark.parametrize("kind", ["dmft", "sim", "traj"])
def test_results_pickle_round_trip(results, kind):
    res = results[kind]
    back = pickle.loads(pickle.dumps(res))
    assert type(back) is type(res) and back.config == res.config
    for f in dataclasses.fields(res):
        a, b = getattr(res, f.name), getattr(back, f.name)
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)
        elif isinstance(a, dict):  # each group's observables
            assert a.keys() == b.keys(), f.name
            for name in a:
                np.testing.assert_array_equal(a[name], b[name])
        else:
            assert a == b, f.name


def test_unknown_config_fields_are_named_the_same_way_everywhere():
    message = "unknown Config field(s) ['bogus']"
    for call, exc in [
        (lambda: ds.Config.from_dict({"bogus": 1}), ValueError),
        (lambda: ds.Config().replace(bogus=1), TypeError),
        (lambda: ds.sweep(CFG, {"bogus": [1]}), ValueError),
        (lambda: cli.parse_grid(["bogus=1"]), cli.UsageError),
    ]:
        with pytest.raises(exc) as info:
            call()
        assert message in str(info.value)


def test_stub_matches_the_binary(tmp_path):
    pytest.importorskip("mypy")
    proc = subprocess.run([sys.executable, "-m", "mypy.stubtest", "dmft_sgd._core"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
