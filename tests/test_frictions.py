"""Frictions a new user met (issue 25, items 7, 13 and 15): a schedule summarised on the
command line, one message per refusal whichever side refuses, `plot` on a file that is
not a result, `plot --quiet`, and a default test run without the slow tests."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dmft_sgd as ds
from dmft_sgd.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLES_RULE = "samples must be an even number >= 2 (samples come in mirror pairs), got "


@pytest.mark.parametrize("samples", [-5, -1, 0, 1, 3])
def test_every_bad_sample_count_gets_the_cores_one_message(samples):
    with pytest.raises(ValueError) as info:
        ds.solve_dmft(ds.Config(steps=3), samples=samples)
    assert str(info.value) == f"{SAMPLES_RULE}{samples}"


@pytest.mark.parametrize("samples", ["-5", "0", "1"])
def test_the_command_line_gives_the_same_message_for_samples(samples, capsys, tmp_path):
    assert main(["dmft", "--samples", samples, "--steps", "3", "--out", str(tmp_path), "--quiet"]) == 2
    assert capsys.readouterr().err == f"dmft-sgd: error: --samples: {SAMPLES_RULE}{samples}\n"


def test_the_config_line_summarises_a_schedule(tmp_path, capsys):
    rates = np.concatenate([np.linspace(0.0067, 0.2, 30), np.linspace(0.2, 0.01, 271)[1:]])
    np.savetxt(tmp_path / "rates.txt", rates)
    assert main(["dmft", "--lr-schedule", str(tmp_path / "rates.txt"), "--samples", "40", "--groups", "1",
                 "--out", str(tmp_path / "out")]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("config:")]
    assert "lr=schedule(300 steps, 0.0067..0.2..0.01)," in line and "steps=300" in line
    assert len(line) < 400  # not 300 numbers


@pytest.mark.parametrize("name, content", [("bad.toml", "lr = 0.1\n"), ("run.py", "print(1)\n")])
def test_plot_of_a_file_that_is_not_a_result_says_so(tmp_path, capsys, name, content):
    path = tmp_path / name
    path.write_text(content)
    assert main(["plot", str(path), "--out", str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err
    assert err == f"dmft-sgd: error: plot: {path}: not a dmft-sgd result file (not an .npz archive)\n"
    assert "pickle" not in err and not (tmp_path / "p.png").exists()


def test_plot_accepts_quiet(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    saved = ds.solve_dmft(ds.Config(steps=5), samples=40, groups=1, seed=0).save(tmp_path / "run.npz")
    assert main(["plot", str(saved), "--out", str(tmp_path / "loud.png")]) == 0
    assert capsys.readouterr().out == f"wrote {tmp_path / 'loud.png'}\n"
    assert main(["plot", str(saved), "--out", str(tmp_path / "quiet.png"), "--quiet"]) == 0
    assert capsys.readouterr().out == "" and (tmp_path / "quiet.png").stat().st_size > 1000
    sweep = ds.sweep(ds.Config(steps=5), {"batch": [0.5, 1.0]}, samples=40, groups=1).save(tmp_path / "sweep.npz")
    assert main(["plot", str(sweep), "--out", str(tmp_path / "sweep.png"), "--quiet"]) == 0
    assert capsys.readouterr().out == "" and (tmp_path / "sweep.png").exists()


def collected(*args):
    """The node ids pytest selects in the two files that hold slow tests, with `args`."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args,
         "tests/test_sweep_store.py", "tests/test_long_horizon.py"],
        capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {line for line in proc.stdout.splitlines() if "::" in line}


def test_the_default_run_leaves_the_slow_tests_out_and_dash_m_slow_runs_them():
    killed = "tests/test_sweep_store.py::test_a_sweep_killed_part_way_resumes_and_equals_an_uninterrupted_one"
    long = "tests/test_long_horizon.py::test_persistent_sgd_to_t_100_matches_the_simulation"
    default, slow = collected(), collected("-m", "slow")
    assert killed in slow and long in slow  # marked in conftest.py and by decorator
    assert not default & slow and killed not in default and long not in default
    assert "tests/test_sweep_store.py::test_the_command_line_sweep_resumes_from_its_store" in default
