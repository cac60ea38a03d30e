"""Shared command-line handling of the example scripts."""

import argparse
from pathlib import Path


def parse(description: str, default_out: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / default_out)
    parser.add_argument("--quick", action="store_true", help="small sizes (for the tests)")
    return parser.parse_args()
