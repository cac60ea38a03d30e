"""The `dmft-sgd` command line: runs, outputs, config files, errors, plots."""

import json
import signal
import struct
import subprocess
import sys
import time

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
    # --quiet hides the notes, not the results; no bars (stderr is not a terminal here).
    out, err = capsys.readouterr()
    assert out.splitlines()[0].split() == ["observable", "DMFT", "SGD", "d=1000"]
    assert f"{dmft.test_error[-1]:.5f} ± {dmft.sem('test_error')[-1]:.5f}" in out
    assert "wrote" not in out and "config:" not in out and err == ""


def test_progress_bars_only_on_a_terminal_or_when_asked(tmp_path, capsys):
    run = ["dmft", "--steps", "15", "--samples", "200", "--out", str(tmp_path)]
    assert main(run) == 0
    out, err = capsys.readouterr()
    assert err == "" and "test_error" in out and "wrote" in out
    assert main([*run, "--progress"]) == 0
    assert "DMFT" in capsys.readouterr().err


def test_the_simulation_bar_counts_steps_not_replica_steps(tmp_path, capsys):
    assert main(["simulate", "--steps", "20", "--d", "20", "--replicas", "4", "--progress",
                 "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "/20 [" in err and "/80" not in err  # the total is 20 steps, not 4 x 20


def test_help_says_which_defaults_are_the_command_lines():
    text = " ".join(build_parser().format_help().split())
    assert "built-in default: alpha=2.0, delta=0.5, lam=0.1, lr=0.2, batch=0.3, steps=200" in text
    assert "Config() defaults differ (full-batch GD: batch=1, lr=0.1, lam=0, steps=100)" in text
    assert ds.Config().batch == 1 and ds.Config().steps == 100 and ds.Config().lr == 0.1 and ds.Config().lam == 0


def test_normalize_batch_is_a_flag_and_the_old_spelling_still_works():
    def parsed(*options):
        return settings_from_args(build_parser().parse_args(["dmft", *options]))[0].normalize_batch

    assert parsed("--normalize-batch") is True
    assert parsed("--no-normalize-batch") is False
    assert parsed("--normalize_batch", "true") is True and parsed("--normalize_batch", "no") is False
    assert parsed() is False
    help_text = subprocess.run([sys.executable, "-m", "dmft_sgd.cli", "dmft", "--help"],
                               capture_output=True, text=True).stdout
    assert "--normalize-batch, --no-normalize-batch" in help_text and "--normalize_batch" not in help_text


def test_integral_counts_may_be_written_as_floats():
    args = build_parser().parse_args(["compare", "--steps", "1e3", "--samples", "2e4", "--d", "1_000",
                                      "--replicas", "8.0"])
    cfg, run = settings_from_args(args)
    assert cfg.steps == 1000 and (run["samples"], run["d"], run["replicas"]) == (20_000, 1000, 8)
    assert isinstance(cfg.steps, int) and isinstance(run["samples"], int)


def test_dmft_solver_options_reach_the_solver(tmp_path, capsys):
    assert main(["dmft", "--steps", "15", "--samples", "400", "--response", "probe", "--band", "4",
                 "--groups", "2", "--no-keep-kernels", "--out", str(tmp_path)]) == 0
    res = ds.load(tmp_path / "dmft.npz")
    assert (res.response, res.band, res.groups, res.M_C) == ("probe", 4, 2, None)
    assert main(["dmft", "--steps", "15", "--samples", "400", "--out", str(tmp_path)]) == 0
    res = ds.load(tmp_path / "dmft.npz")
    assert (res.response, res.groups, res.M_C.shape) == ("tangent", 8, (15, 15))  # solve_dmft's defaults
    assert main(["sweep", "--grid", "batch=0.5,1", "--steps", "10", "--samples", "200", "--groups", "2",
                 "--out", str(tmp_path)]) == 0
    assert [r.groups for r in ds.load(tmp_path / "sweep.npz").results] == [2, 2]
    capsys.readouterr()
    assert main(["sweep", "--grid", "batch=0.5,1", "--kind", "simulate", "--band", "3"]) == 2
    assert "--band applies to DMFT points" in capsys.readouterr().err


def test_an_interrupted_sweep_says_how_to_resume_in_one_printed_line(tmp_path):
    store = tmp_path / "s"
    proc = subprocess.Popen([sys.executable, "-m", "dmft_sgd.cli", "sweep", "--grid", "batch=0.2,0.3,0.5,0.7,1",
                             "--steps", "600", "--samples", "4000", "--threads", "1", "--store", str(store),
                             "--out", str(tmp_path / "out")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(store.glob("point-*.npz")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    lines = err.strip().splitlines()
    assert lines[-1] == "dmft-sgd: interrupted"
    assert lines[0].startswith("dmft-sgd: sweep interrupted: ") and lines[0].endswith("run the same sweep again to resume")
    assert len(lines) == 2 and "Warning" not in err


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
        (["compare", "--loss", "huber"], "--loss: loss must be one of 'logistic', 'square'"),
        (["dmft", "--loss", "hinge"], "--loss: loss 'hinge' has no second derivative"),
        (["compare", "--tau", "0.01"], "--tau: tau must be >="),
        (["compare", "--data", "teacher", "--teacher", "linear", "--loss", "logistic"], "--loss: loss 'logistic' needs labels ±1"),
        (["compare", "--noise", "0.1"], "--noise: noise applies only to data='teacher'"),
        (["compare", "--normalize_batch", "maybe"], "--normalize_batch"),
        (["dmft", "--steps", "1.5"], "argument --steps: expected an integer, got '1.5'"),
        (["simulate", "--d", "ten"], "argument --d: expected an integer, got 'ten'"),
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
    assert "wrote" in out
    result = ds.load(tmp_path / "sweep.npz")
    first = result.results[0]
    assert f"{'batch=0.5, tau=None':<40} test_error = {first.test_error[-1]:.5f} ± {first.sem('test_error')[-1]:.5f}\n" in out
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


def test_a_learning_rate_schedule_from_a_file(tmp_path, capsys):
    schedule = tmp_path / "lr.txt"
    schedule.write_text("# warm-up, then decay\n0.05 0.1, 0.2\n0.2\n0.1\n")
    args = build_parser().parse_args(["dmft", "--lr-schedule", str(schedule)])
    cfg, _ = settings_from_args(args)
    assert cfg.lr == (0.05, 0.1, 0.2, 0.2, 0.1) and cfg.steps == 5
    assert main(["dmft", "--lr-schedule", str(schedule), "--samples", "200", "--out", str(tmp_path),
                 "--quiet"]) == 0
    saved = ds.load(tmp_path / "dmft.npz")
    assert saved.config.lr == cfg.lr
    np.testing.assert_allclose(saved.t, [0.0, 0.05, 0.15, 0.35, 0.55])
    broken = tmp_path / "broken.txt"
    broken.write_text("0.1 fast\n")
    capsys.readouterr()
    assert main(["dmft", "--lr-schedule", str(broken)]) == 2
    assert "--lr-schedule: " in (err := capsys.readouterr().err) and "could not convert string to float: 'fast'" in err
    # A given --steps must match the schedule.
    assert main(["dmft", "--lr-schedule", str(schedule), "--steps", "7"]) == 2
    assert "--lr: lr as a schedule must have one rate per step, steps = 7, got 5" in capsys.readouterr().err


LANGEVIN_ARGS = ["--data", "teacher", "--teacher", "linear", "--loss", "square", "--lam", "0.5",
                 "--temperature", "0.1", "--lr", "0.05", "--batch", "1", "--steps", "80", "--samples", "800"]


def test_fdt_of_a_saved_result_prints_the_temperatures_and_draws_the_plot(tmp_path, capsys, drawn):
    assert main(["dmft", *LANGEVIN_ARGS, "--out", str(tmp_path), "--quiet"]) == 0
    saved = ds.load(tmp_path / "dmft.npz")
    assert saved.C_groups is not None  # kept by default at this size
    capsys.readouterr()
    picture = tmp_path / "fdt.png"
    assert main(["fdt", str(tmp_path / "dmft.npz"), "--t-w", "2", "3", "--out", str(picture)]) == 0
    out, err = capsys.readouterr()
    curves = [ds.fdt(saved, t_w) for t_w in (2.0, 3.0)]
    lines = out.splitlines()
    assert lines[0].split() == ["t_w", "T_eff"]
    for line, curve in zip(lines[1:3], curves):
        assert line.split() == [f"{curve.t_w:g}", f"{curve.effective_temperature:.5f}", "±",
                                f"{curve.effective_temperature_sem:.5f}"]
    assert lines[3] == f"wrote {picture}" and err == ""
    assert png_size(picture)[0] > 400
    texts = legend(drawn[-1])
    assert texts[0] == (f"$t_w$=2: $T_{{eff}}$ = {curves[0].effective_temperature:.3g} ± "
                        f"{curves[0].effective_temperature_sem:.2g}")
    assert texts[-1] == "equilibrium, T = 0.1"
    # --quiet: the table alone.
    assert main(["fdt", str(tmp_path / "dmft.npz"), "--t-w", "3", "--out", str(picture), "--quiet"]) == 0
    assert capsys.readouterr().out.splitlines() == lines[:1] + lines[2:3]
    # At t_w = 1 the run is not yet stationary: the curve bends, and one line says so.
    assert main(["fdt", str(tmp_path / "dmft.npz"), "--t-w", "1", "--out", str(picture), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fdt(t_w=1): chi against dC is not a line" in err


def test_fdt_of_a_config_solves_it_with_the_groups(tmp_path, capsys):
    picture, saved = tmp_path / "pics" / "fdt.png", tmp_path / "run.npz"
    assert main(["fdt", "--t-w", "2", *LANGEVIN_ARGS, "--seed", "3", "--out", str(picture), "--save", str(saved)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("config: Config(data='teacher'") and f"wrote {picture}" in out and f"wrote {saved}" in out
    result = ds.load(saved)
    assert result.seed == 3 and result.samples == 800 and result.C_groups is not None
    curve = ds.fdt(result, 2.0)
    assert f"{curve.effective_temperature:.5f} ± {curve.effective_temperature_sem:.5f}" in out
    assert png_size(picture)[0] > 400
    # The same as solving it by hand.
    by_hand = ds.solve_dmft(result.config, samples=800, seed=3)
    np.testing.assert_array_equal(by_hand.C, result.C)


def test_fdt_without_the_groups_says_so_once_and_prints_the_temperatures(tmp_path, capsys):
    assert main(["dmft", *LANGEVIN_ARGS, "--no-keep-groups", "--out", str(tmp_path), "--quiet"]) == 0
    assert ds.load(tmp_path / "dmft.npz").C_groups is None
    capsys.readouterr()
    assert main(["fdt", str(tmp_path / "dmft.npz"), "--t-w", "1", "2", "--out", str(tmp_path / "f.png"),
                 "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert err.count("keep_groups=True") == 1 and len(err.strip().splitlines()) == 1
    rows = out.splitlines()[1:]
    assert len(rows) == 2 and all("±" not in row for row in rows)


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["fdt", "RESULT", "--t-w", "30"], "--t-w: t_w must be in [0, 3.8] (a time before the last step), got 30.0"),
        (["fdt", "RESULT", "--t-w", "1", "--lam", "1", "--seed", "2"],
         "fdt: --lam, --seed apply to a run; RESULT.npz is solved already"),
        (["fdt", "SIM", "--t-w", "0.1"], "holds a SimulationResult, not a DMFT result"),
        (["fdt", "/nonexistent.npz", "--t-w", "1"], "fdt: no such file /nonexistent.npz"),
        (["fdt", "--t-w", "30", "--steps", "20"], "--t-w: t_w must be in [0, 3.6]"),
        (["fdt", "--t-w", "1", "--batch", "3"], "--batch: batch must be in (0, 1]"),
        (["fdt", "RESULT"], "the following arguments are required: --t-w"),
    ],
)
def test_fdt_bad_input_exits_2_with_one_line_naming_it(argv, needle, tmp_path):
    ds.solve_dmft(ds.Config(steps=40), samples=200).save(tmp_path / "dmft.npz")
    ds.simulate(ds.Config(steps=5), d=10, replicas=2).save(tmp_path / "sim.npz")
    paths = {"RESULT": str(tmp_path / "dmft.npz"), "SIM": str(tmp_path / "sim.npz")}
    argv = [paths.get(a, a) for a in argv]
    proc = subprocess.run([sys.executable, "-m", "dmft_sgd.cli", *argv, "--out", str(tmp_path / "x.png")],
                          capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


def test_fdt_without_matplotlib_prints_the_table_and_a_note(tmp_path, monkeypatch, capsys):
    ds.solve_dmft(ds.Config(steps=40, lr=0.1), samples=400).save(tmp_path / "dmft.npz")
    monkeypatch.setitem(sys.modules, "dmft_sgd.plot", None)  # importing it raises ImportError
    assert main(["fdt", str(tmp_path / "dmft.npz"), "--t-w", "2", "--out", str(tmp_path / "f.png")]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0].split() == ["t_w", "T_eff"] and "(no picture written)" in err
    assert not (tmp_path / "f.png").exists()


def test_plot_draws_a_saved_sweep_or_sgf_result_on_its_own(tmp_path, capsys):
    assert main(["sweep", "--grid", "batch=0.5,1", "--steps", "5", "--samples", "200",
                 "--out", str(tmp_path / "sw"), "--quiet"]) == 0
    assert main(["sgf", "--steps", "11", "--samples", "400", "--out", str(tmp_path / "sg"), "--quiet"]) == 0
    capsys.readouterr()
    for name in ("sw/sweep.npz", "sg/sgf.npz"):
        picture = tmp_path / (name.split("/")[0] + ".png")
        assert main(["plot", str(tmp_path / name), "--out", str(picture)]) == 0
        assert png_size(picture)[0] >= 400
    # Mixed with another file: one line naming it, exit code 2.
    assert main(["plot", str(tmp_path / "sw/sweep.npz"), str(tmp_path / "sg/sgf.npz"),
                 "--out", str(tmp_path / "both.png")]) == 2
    assert "sweep.npz holds a SweepResult" in capsys.readouterr().err
