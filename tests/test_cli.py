"""The `dmft-sgd` command line."""

import subprocess
import sys

import numpy as np
import pytest

import dmft_sgd as ds
from dmft_sgd.cli import main


def test_simulate_with_options_writes_a_result(tmp_path, capsys):
    code = main(["simulate", "--steps", "20", "--batch", "0.5", "--tau", "none", "--d", "40",
                 "--replicas", "3", "--seed", "4", "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "test_error" in out and "batch=0.5" in out
    sim = ds.load(tmp_path / "sim.npz")
    assert sim.config.batch == 0.5 and sim.config.tau is None and sim.config.steps == 20
    assert (sim.d, sim.replicas, sim.seed) == (40, 3, 4)
    again = ds.simulate(sim.config, d=40, replicas=3, seed=4)
    np.testing.assert_array_equal(again.test_error, sim.test_error)


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["simulate", "--batch", "2"], "batch must be in (0, 1]"),
        (["simulate", "--alpha", "abc"], "--alpha"),
        (["simulate", "--replicas", "0"], "replicas must be >= 1"),
        (["simulate", "--loss", "hinge"], "loss must be"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_it(argv, needle):
    proc = subprocess.run([sys.executable, "-m", "dmft_sgd.cli", *argv], capture_output=True, text=True)
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
