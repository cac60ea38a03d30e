"""The `dmft-sgd` command line: runs, outputs, config files, errors, plots."""

import json
import struct
import subprocess
import sys

import numpy as np
import pytest

import dmft_sgd as ds
from dmft_sgd.cli import DEFAULT_CONFIG, DEFAULT_RUN, build_parser, main, settings_from_args


def png_size(path):
    """(width, height) from a PNG's IHDR chunk; fails for anything that is not a PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_default_compare_writes_both_results_and_a_picture(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--quiet"]) == 0
    dmft, sim = ds.load(tmp_path / "dmft.npz"), ds.load(tmp_path / "sim.npz")
    assert isinstance(dmft, ds.DMFTResult) and isinstance(sim, ds.SimulationResult)
    assert dmft.config == sim.config == ds.Config(**DEFAULT_CONFIG)
    assert (dmft.samples, sim.d, sim.replicas) == (DEFAULT_RUN["samples"], DEFAULT_RUN["d"], DEFAULT_RUN["replicas"])
    # The default shows agreement: final test errors within 5 combined standard errors.
    gap = abs(dmft.test_error[-1] - sim.mean("test_error")[-1])
    assert gap < 5 * sim.sem("test_error")[-1] + 2e-3
    width, height = png_size(tmp_path / "compare.png")
    assert width > 800 and height > 400
    assert capsys.readouterr().out == ""


def test_simulate_prints_a_table(tmp_path, capsys):
    code = main(["simulate", "--steps", "20", "--batch", "0.5", "--tau", "none", "--d", "40",
                 "--replicas", "3", "--seed", "4", "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "test_error" in out and "batch=0.5" in out and "SGD d=40" in out
    sim = ds.load(tmp_path / "sim.npz")
    assert sim.config.batch == 0.5 and sim.config.tau is None and sim.config.steps == 20
    again = ds.simulate(sim.config, d=40, replicas=3, seed=4)
    np.testing.assert_array_equal(again.test_error, sim.test_error)
    assert not (tmp_path / "dmft.npz").exists()


def test_a_regression_teacher_leaves_the_errors_out_of_the_table(tmp_path, capsys):
    code = main(["compare", "--data", "teacher", "--teacher", "linear", "--loss", "square",
                 "--noise", "0.2", "--normalize_batch", "true", "--temperature", "0.01", "--steps", "15",
                 "--samples", "1000", "--d", "60", "--replicas", "2", "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "test_loss" in out and "train_loss" in out and "error" not in out
    dmft = ds.load(tmp_path / "dmft.npz")
    assert dmft.config.normalize_batch and dmft.config.temperature == 0.01 and dmft.test_error is None
    assert png_size(tmp_path / "compare.png")[0] > 500


def test_dmft_alone(tmp_path):
    assert main(["dmft", "--steps", "15", "--samples", "400", "--out", str(tmp_path), "--quiet"]) == 0
    res = ds.load(tmp_path / "dmft.npz")
    assert res.samples == 400 and res.t.size == 15
    assert png_size(tmp_path / "dmft.png")[0] > 100


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_config_file_and_options_merge(tmp_path, suffix):
    path = tmp_path / f"run{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps({"batch": 0.2, "tau": 3.0, "clusters": 3, "d": 300, "samples": 1000}))
    else:
        path.write_text('batch = 0.2\ntau = 3.0\nclusters = 3\nd = 300\nsamples = 1000\n')
    args = build_parser().parse_args(["compare", "--config", str(path), "--tau", "5", "--seed", "7"])
    cfg, run = settings_from_args(args)
    assert cfg == ds.Config(**{**DEFAULT_CONFIG, "batch": 0.2, "tau": 5.0, "clusters": 3})
    assert run == {**DEFAULT_RUN, "d": 300, "samples": 1000, "seed": 7}


def test_every_config_field_is_an_option():
    args = build_parser().parse_args(
        ["dmft", "--clusters", "3", "--alpha", "1.5", "--delta", "0.3", "--rho", "0.4", "--loss", "square",
         "--activation", "door", "--threshold", "2", "--lam", "0.01", "--lr", "0.05", "--batch", "0.5",
         "--tau", "1", "--steps", "30", "--m0", "0.2", "--q0", "0.7"]
    )
    cfg, _ = settings_from_args(args)
    assert cfg == ds.Config(clusters=3, alpha=1.5, delta=0.3, rho=0.4, loss="square", activation="door",
                            threshold=2.0, lam=0.01, lr=0.05, batch=0.5, tau=1.0, steps=30, m0=0.2, q0=0.7)


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["simulate", "--batch", "2"], "--batch: batch must be in (0, 1]"),
        (["compare", "--alpha", "abc"], "--alpha"),
        (["simulate", "--replicas", "0"], "--replicas: replicas must be >= 1"),
        (["dmft", "--samples", "7"], "--samples: samples must be an even number >= 2"),
        (["compare", "--loss", "hinge"], "--loss: loss must be"),
        (["compare", "--tau", "0.01"], "--tau: tau must be >="),
        (["compare", "--data", "teacher", "--teacher", "linear", "--loss", "logistic"], "--loss: loss 'logistic' needs labels ±1"),
        (["compare", "--noise", "0.1"], "--noise: noise applies only to data='teacher'"),
        (["compare", "--normalize_batch", "maybe"], "--normalize_batch"),
        (["compare", "--config", "/nonexistent.toml"], "--config: cannot read"),
        (["frobnicate"], "invalid choice"),
        (["plot", "/nonexistent.npz", "--out", "x.png"], "no such file"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_it(argv, needle):
    proc = subprocess.run([sys.executable, "-m", "dmft_sgd.cli", *argv], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_unknown_config_key_is_named(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"batch": 0.5, "bacth": 0.2}))
    proc = subprocess.run([sys.executable, "-m", "dmft_sgd.cli", "--config", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "bacth" in proc.stderr


def test_divergence_exits_1_with_the_step(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "dmft_sgd.cli", "simulate", "--loss", "square", "--lr", "3", "--batch", "1",
         "--steps", "300", "--d", "50", "--replicas", "2", "--out", str(tmp_path), "--quiet"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 1 and "diverged at step" in proc.stderr


def test_plot_redraws_saved_results(tmp_path):
    cfg = ds.Config(steps=12)
    a = ds.solve_dmft(cfg, samples=200).save(tmp_path / "a.npz")
    b = ds.simulate(cfg, d=30, replicas=3).save(tmp_path / "b.npz")
    assert main(["plot", str(a), str(b), "--out", str(tmp_path / "p.png"), "--log-time"]) == 0
    width, height = png_size(tmp_path / "p.png")
    assert (width, height) == (1386, 770)


@pytest.fixture
def drawn(monkeypatch):
    """The figures the command line saves."""
    pytest.importorskip("matplotlib")
    from dmft_sgd import plot

    figures, save = [], plot.save_figure
    monkeypatch.setattr(plot, "save_figure", lambda fig, path: figures.append(fig) or save(fig, path))
    return figures


def legend(fig):
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


def test_plot_labels_runs_by_what_differs_or_by_labels(tmp_path, drawn):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    a = ds.solve_dmft(ds.Config(steps=12, lr=0.1), samples=200).save(tmp_path / "a" / "dmft.npz")
    b = ds.solve_dmft(ds.Config(steps=12, lr=0.05), samples=200).save(tmp_path / "b" / "dmft.npz")
    assert main(["plot", str(a), str(b), "--out", str(tmp_path / "p.png")]) == 0
    assert legend(drawn[-1]) == ["lr=0.1", "lr=0.05"]
    assert main(["plot", str(a), str(b), "--labels", "fast", "slow", "--out", str(tmp_path / "p.png")]) == 0
    assert legend(drawn[-1]) == ["fast", "slow"]
    assert main(["plot", str(a), str(b), "--labels", "one", "--out", str(tmp_path / "p.png")]) == 2


def test_sweep_writes_the_file_and_a_heat_map(tmp_path, capsys):
    code = main(["sweep", "--grid", "batch=0.5,1", "--grid", "tau=none,2", "--samples", "200", "--steps", "10",
                 "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "batch=0.5, tau=None" in out and "wrote" in out
    result = ds.load(tmp_path / "sweep.npz")
    assert isinstance(result, ds.SweepResult) and result.axes == [("batch", [0.5, 1.0]), ("tau", [None, 2.0])]
    assert result.base_config.steps == 10 and all(r.samples == 200 for r in result.results)
    assert png_size(tmp_path / "sweep.png")[0] > 300


@pytest.mark.parametrize(
    "grid,needle",
    [("batch", "expected FIELD=V1,V2"), ("batchsize=0.1", "unknown Config field"), ("batch=a,b", "bad value for batch")],
)
def test_bad_grids_exit_2(grid, needle):
    proc = subprocess.run([sys.executable, "-m", "dmft_sgd.cli", "sweep", "--grid", grid],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and needle in proc.stderr
