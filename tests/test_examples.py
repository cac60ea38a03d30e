"""The example scripts run (at small sizes) and write real pictures."""

import subprocess
import sys
from pathlib import Path

import pytest

from test_cli import png_size

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("[!_]*.py"))


def test_every_example_is_listed():
    assert {p.stem for p in EXAMPLES} == {"gd_vs_sgd", "persistence", "three_clusters", "finite_size", "long_time",
                                         "teacher_student", "phase_retrieval", "effective_temperature"}


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_writes_a_png(script, tmp_path):
    out = tmp_path / f"{script.stem}.png"
    proc = subprocess.run([sys.executable, str(script), "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    width, height = png_size(out)
    assert width >= 500 and height >= 400
