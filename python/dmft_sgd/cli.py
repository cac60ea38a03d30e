"""The `dmft-sgd` command line.

``dmft-sgd simulate [--alpha 2 --batch 0.3 ... every Config field] [--d D --replicas R
--seed S --threads N --out DIR]`` runs the finite-d ensemble and prints the final
observables (mean ± sem over replicas). With no options it runs a built-in default.
Exit codes: 0 success, 2 bad input (one line naming the option), 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from .config import Config, field_names
from .results import OBSERVABLES, SimulationResult
from .simulation import simulate

#: The built-in default of `dmft-sgd simulate`: two clusters, mini-batch SGD, a few seconds.
DEFAULT_RUN = dict(alpha=2.0, delta=0.5, lam=0.1, lr=0.2, batch=0.3, steps=200)


def _optional_float(text: str) -> float | None:
    return None if text.lower() == "none" else float(text)


_FIELD_TYPES: dict[str, Any] = {
    "clusters": int,
    "steps": int,
    "loss": str,
    "activation": lambda s: None if s.lower() == "none" else s,
    "tau": _optional_float,
    "m0": _optional_float,
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2
        self.exit(2, f"dmft-sgd: error: {message}\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dmft-sgd", description="DMFT of SGD on Gaussian mixtures.")
    commands = parser.add_subparsers(dest="command", required=True)
    sim = commands.add_parser("simulate", help="run the finite-d SGD ensemble")
    model = sim.add_argument_group("model and optimiser (Config fields)")
    for name in field_names():
        model.add_argument(f"--{name}", type=_FIELD_TYPES.get(name, float), default=None, metavar="X")
    run = sim.add_argument_group("run")
    run.add_argument("--d", type=int, default=500, help="dimension (default 500)")
    run.add_argument("--replicas", type=int, default=16, help="replicas (default 16)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--threads", type=int, default=None, help="default: all cores")
    run.add_argument("--out", type=Path, default=None, help="directory for sim.npz")
    run.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return parser


def _config_from_args(args: argparse.Namespace) -> Config:
    given = {name: getattr(args, name) for name in field_names() if getattr(args, name) is not None}
    return Config(**{**DEFAULT_RUN, **given})


def _summary(sim: SimulationResult) -> str:
    lines = [f"{'observable':<12} {'final mean':>12} {'± sem':>10}"]
    for name in OBSERVABLES:
        sem = sim.sem(name)[-1] if sim.replicas > 1 else float("nan")
        lines.append(f"{name:<12} {sim.mean(name)[-1]:>12.6f} {sem:>10.6f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args = _build_parser().parse_args(argv)
    try:
        cfg = _config_from_args(args)
        sim = simulate(cfg, d=args.d, replicas=args.replicas, seed=args.seed, threads=args.threads)
    except (ValueError, TypeError) as exc:
        print(f"dmft-sgd: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dmft-sgd: interrupted", file=sys.stderr)
        return 130
    if not args.quiet:
        print(f"finite-d SGD, d={sim.d}, {sim.replicas} replicas, seed {sim.seed}, t = {sim.t[-1]:g}")
        print(cfg)
        print(_summary(sim))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        path = sim.save(args.out / "sim.npz")
        if not args.quiet:
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
