"""Shared command-line handling of the example scripts: each writes one picture into
``--out DIR`` (default ``examples-output/`` in the current directory); ``--readme``
redraws the README's copy in ``docs/`` instead."""

import argparse
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def parse(description: str, picture: str) -> argparse.Namespace:
    """The options; ``args.out`` is the path of the picture to write."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="folder for the picture (default: ./examples-output)")
    parser.add_argument("--readme", action="store_true",
                        help=f"redraw the README's picture, {DOCS.name}/{picture} (full size)")
    parser.add_argument("--quick", action="store_true", help="small sizes (for the tests)")
    args = parser.parse_args()
    if args.readme and (args.quick or args.out is not None):
        parser.error("--readme writes the full-size picture into docs/: leave out --quick and --out")
    args.out = (DOCS if args.readme else args.out or Path("examples-output")) / picture
    return args
