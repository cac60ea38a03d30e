"""Which dmft_sgd the suite tests. CI sets DMFT_SGD_EXPECT_INSTALLED=1 to run it against
the installed wheel: then importing the source tree's python/dmft_sgd is an error."""

import os
from pathlib import Path

import dmft_sgd

SOURCE = Path(__file__).resolve().parents[1] / "python"


def pytest_report_header(config):
    return f"dmft_sgd {dmft_sgd.__version__} from {Path(dmft_sgd.__file__).parent}"


def pytest_sessionstart(session):
    if os.environ.get("DMFT_SGD_EXPECT_INSTALLED") == "1":
        location = Path(dmft_sgd.__file__).resolve()
        if SOURCE in location.parents:
            raise RuntimeError(f"testing the source tree ({location}), not the installed wheel")
        print(f"\ntesting the installed dmft_sgd at {location.parent}")
