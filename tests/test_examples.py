"""The example scripts run (at small sizes) and write real pictures, into
./examples-output by default, never over the README's pictures in docs/ unless asked."""

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from test_cli import png_size

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("[!_]*.py"))


def docs_pictures():
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (ROOT / "docs").glob("*.png")}


def test_every_example_is_listed():
    assert {p.stem for p in EXAMPLES} == {"gd_vs_sgd", "persistence", "three_clusters", "finite_size", "long_time",
                                         "teacher_student", "phase_retrieval", "effective_temperature", "momentum",
                                         "schedule", "sgf_limit", "committee"}


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_writes_a_png_into_examples_output(script, tmp_path):
    before = docs_pictures()
    proc = subprocess.run([sys.executable, str(script), "--quick"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "examples-output" / f"{script.stem}.png"
    assert proc.stdout.strip().splitlines()[-1] == "examples-output/" + out.name
    width, height = png_size(out)
    assert width >= 500 and height >= 400
    assert docs_pictures() == before


def test_out_names_the_folder_and_readme_is_full_size_only(tmp_path):
    script = ROOT / "examples" / "gd_vs_sgd.py"
    proc = subprocess.run([sys.executable, str(script), "--quick", "--out", str(tmp_path / "pictures")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert png_size(tmp_path / "pictures" / "gd_vs_sgd.png")[0] >= 500
    before = docs_pictures()
    proc = subprocess.run([sys.executable, str(script), "--readme", "--quick"], capture_output=True, text=True)
    assert proc.returncode == 2 and "leave out --quick" in proc.stderr
    assert docs_pictures() == before
