"""Which dmft_sgd the suite tests, and which tests are slow.

CI sets DMFT_SGD_EXPECT_INSTALLED=1 to run the suite against the installed wheel: then
importing the source tree's python/dmft_sgd is an error.

The default run (``python -m pytest``: pyproject's addopts hold ``-m "not slow"``) leaves
out the tests marked slow; ``python -m pytest -m slow`` runs them alone (CI does, as a step
of its own). Besides ``@pytest.mark.slow`` in the test files, `SLOW` marks the tests that
take over 10 s on a 2-core machine and whose behaviour a faster test of the default run
covers too.
"""

import os
from pathlib import Path

import pytest

import dmft_sgd

SOURCE = Path(__file__).resolve().parents[1] / "python"
HERE = Path(__file__).resolve().parent

#: (file, test name with its parameters) -> why it is slow and what covers it by default.
SLOW = {
    ("test_sweep_store.py", "test_a_sweep_killed_part_way_resumes_and_equals_an_uninterrupted_one"):
        "43 s: five 400-step points of 4000 samples, twice; the command line's resume test "
        "(test_the_command_line_sweep_resumes_from_its_store) runs by default",
    ("test_boundary.py", "test_stub_matches_the_binary"):
        "15 s of mypy.stubtest; CI runs stubtest on the installed wheel as a step of its own",
}


def pytest_report_header(config):
    return f"dmft_sgd {dmft_sgd.__version__} from {Path(dmft_sgd.__file__).parent}"


def pytest_sessionstart(session):
    if os.environ.get("DMFT_SGD_EXPECT_INSTALLED") == "1":
        location = Path(dmft_sgd.__file__).resolve()
        if SOURCE in location.parents:
            raise RuntimeError(f"testing the source tree ({location}), not the installed wheel")
        print(f"\ntesting the installed dmft_sgd at {location.parent}")


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config, items):
    for (file, name), _why in SLOW.items():
        # A renamed test must leave this list too: it would run by default unnoticed.
        if f"def {name.split('[')[0]}(" not in (HERE / file).read_text(encoding="utf-8"):
            raise pytest.UsageError(f"conftest.py SLOW names {file}::{name}, which does not exist")
    for item in items:
        if (item.path.name, item.name) in SLOW:
            item.add_marker(pytest.mark.slow)
