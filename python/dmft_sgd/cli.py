"""The `dmft-sgd` command line.

    dmft-sgd compare [options]     DMFT and simulation side by side (the default command)
    dmft-sgd dmft [options]        the DMFT solver alone
    dmft-sgd simulate [options]    the finite-d ensemble alone
    dmft-sgd plot FILE.npz [FILE2.npz ...] --out PNG [--labels A B ...]
    dmft-sgd sweep --grid batch=0.1,0.3,1 --grid tau=none,5 [--kind dmft|simulate] [options]
    dmft-sgd fdt [RESULT.npz] --t-w 2 4 [options]   the FDT plot and T_eff ± sem
    dmft-sgd sgf [--lrs 0.2 0.1 0.05] [--order 2] [options]   the stochastic gradient flow (lr -> 0)

Every Config field is an option (``--alpha 2 --batch 0.3 --tau 5 --normalize-batch ...``;
``none`` restores a None default); ``--config FILE`` reads the same keys (and the run
options) from TOML or JSON, and options given on the command line override the file.
Without options a run is the built-in default (`DEFAULT_CONFIG`: plain SGD with b = 0.3
for 200 steps), not ``Config()``'s (full-batch GD, 100 steps). Results print to stdout,
progress bars to stderr when it is a terminal. Exit codes: 0 success, 1 a run failed
(e.g. diverged), 2 bad input (one line naming the option), 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import decimal
import json
import math
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence, TextIO

from . import _core
from ._progress import Bar
from .config import FIELDS, Config, FieldInfo, check_field_names, field_names
from .dmft import solve_dmft
from .network import NetworkDMFTResult, NetworkResult
from .results import OBSERVABLES, DMFTResult, SimulationResult, load, recorded
from .simulation import simulate

#: The built-in default: two clusters, logistic loss, plain SGD with b = 0.3 and a ridge;
#: DMFT and simulation both take a few seconds on two cores. It differs from ``Config()``
#: (full-batch GD, lr = 0.1, no ridge, 100 steps) on purpose: it shows SGD's noise.
DEFAULT_CONFIG = dict(alpha=2.0, delta=0.5, lam=0.1, lr=0.2, batch=0.3, steps=200)
DEFAULT_RUN = dict(samples=20_000, d=1000, replicas=16, seed=0, threads=None)
RUN_KEYS = tuple(DEFAULT_RUN)
#: Options of the DMFT solver (`solve_dmft`'s keywords); passed only when given.
DMFT_KEYS = ("groups", "response", "band", "keep_kernels", "keep_groups")

DEFAULTS_NOTE = (
    "Without options a run is the built-in default: " +
    ", ".join(f"{k}={v}" for k, v in DEFAULT_CONFIG.items()) +
    " (plain SGD), samples=20000, d=1000, replicas=16. The Python API's Config() defaults "
    "differ (full-batch GD: batch=1, lr=0.1, lam=0, steps=100); options and --config "
    "change the built-in run.")


class UsageError(Exception):
    """Bad input: reported on one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit code 2
        self.exit(2, f"dmft-sgd: error: {message}\n")


class _NoneGiven:
    """The value of an option typed as ``none``: unlike an option not given (None), it
    overrides a command's own default (``sgf --tau none`` is refused, not ``tau=1``)."""

    def __repr__(self) -> str:
        return "none"


NONE_GIVEN = _NoneGiven()


def _given(value: Any) -> Any:
    """An option's value as the API takes it (``none`` typed is None)."""
    return None if value is NONE_GIVEN else value


def _optional(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        return NONE_GIVEN if text.lower() == "none" else convert(text)

    parse.__name__ = getattr(convert, "__name__", "value")
    return parse


def _parse_bool(text: str) -> bool:
    words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
    if text.lower() not in words:
        raise ValueError(f"expected true or false, got {text!r}")
    return words[text.lower()]


_parse_bool.__name__ = "bool"


def _parse_int(text: str) -> int:
    """An integer, also written as ``1e3`` or ``1_000``; ``1.5`` is refused."""
    try:
        value = decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        value = decimal.Decimal("NaN")
    if not value.is_finite() or value != value.to_integral_value():
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    return int(value)


_parse_int.__name__ = "int"


def _parse_floats(text: str) -> tuple[float, ...]:
    """``0.7,-0.7`` -> ``(0.7, -0.7)``."""
    return tuple(float(v) for v in text.split(","))


def _field_parser(info: FieldInfo) -> Callable[[str], Any]:
    """Parses an option's text as the Config field's own type (``none`` for None; a
    sequence as comma-separated values)."""
    kind = _parse_floats if info.sequence else {bool: _parse_bool, int: _parse_int}.get(info.kind, info.kind)
    return _optional(kind) if info.optional else kind


def _option(name: str) -> str:
    """The command-line spelling of a field or keyword: ``--normalize-batch``."""
    return "--" + name.replace("_", "-")


def _print_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                   file: TextIO | None = None, line: str | None = None) -> None:
    """A warning of a command (e.g. how to resume an interrupted sweep): one line on
    stderr, without Python's source line."""
    print(f"dmft-sgd: {message}", file=sys.stderr)


def _add_run_options(p: argparse.ArgumentParser, dmft: bool, sim: bool, outputs: bool = True) -> None:
    """The Config fields, the run options and (`dmft`) the solver's; `outputs`: ``--out DIR``
    and ``--log-time`` too (the commands that write a directory of results)."""
    model = p.add_argument_group("model and optimiser (Config fields; default: the built-in run)")
    for name, info in FIELDS.items():
        default = DEFAULT_CONFIG.get(name, info.default)
        extra = "" if default is None else f" (default {default})"
        help_ = info.doc.replace("%", "%%") + extra
        if info.kind is bool:  # a flag; the older ``--normalize_batch true`` still works
            if _option(name) != f"--{name}":
                model.add_argument(f"--{name}", dest=name, type=_field_parser(info), help=argparse.SUPPRESS)
            model.add_argument(_option(name), dest=name, action=argparse.BooleanOptionalAction,
                               default=None, help=help_)
        else:
            spellings = dict.fromkeys([_option(name), f"--{name}"])  # --m0; both for a_b
            model.add_argument(*spellings, dest=name, type=_field_parser(info), metavar="X", help=help_)
    model.add_argument("--lr-schedule", type=Path, metavar="FILE",
                       help="learning rate per step from a text file (one rate per step; sets "
                            "--steps to its length unless given), instead of --lr")
    run = p.add_argument_group("run")
    run.add_argument("--config", type=Path, metavar="FILE", help="TOML or JSON file with the same keys")
    if dmft:
        run.add_argument("--samples", type=_parse_int, help=f"DMFT samples (default {DEFAULT_RUN['samples']})")
    if sim:
        run.add_argument("--d", type=_parse_int, help=f"dimension (default {DEFAULT_RUN['d']})")
        run.add_argument("--replicas", type=_parse_int, help=f"replicas (default {DEFAULT_RUN['replicas']})")
    run.add_argument("--seed", type=_parse_int, help="default 0")
    run.add_argument("--threads", type=_optional(_parse_int), help="default: all cores")
    if outputs:
        run.add_argument("--out", type=Path, default=Path("dmft-sgd-output"), help="output directory")
        run.add_argument("--log-time", action="store_true", help="logarithmic time axis")
    run.add_argument("--quiet", action="store_true",
                     help="no progress bars and no notes (config, files written); results still print")
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="progress bars on stderr (default: when stderr is a terminal and not --quiet)")
    if dmft:
        solver = p.add_argument_group("DMFT solver (solve_dmft's keywords; default: its own)")
        solver.add_argument("--groups", type=_optional(_parse_int), metavar="G",
                            help="independent groups of samples, for the error bars (default: 8, 4 beyond 4000 steps)")
        solver.add_argument("--response", choices=("auto", "tangent", "probe"),
                            help="estimator of the response kernel (default auto: the exact tangent where "
                                 "affordable, the probe beyond; see solve_dmft)")
        solver.add_argument("--band", type=_parse_int, metavar="K", help="lags the probe computes exactly (default 16)")
        solver.add_argument("--keep-kernels", dest="keep_kernels", action=argparse.BooleanOptionalAction,
                            default=None, help="keep M_C, M_R, mu in dmft.npz (default: kept)")
        solver.add_argument("--keep-groups", dest="keep_groups", action=argparse.BooleanOptionalAction,
                            default=None,
                            help="keep each group's C and R, for the FDT's error bars (default: while "
                                 "groups x steps^2 <= 1e7; the fdt command keeps them)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dmft-sgd", epilog=DEFAULTS_NOTE,
                     description="DMFT of SGD on Gaussian mixtures and teacher-student models, and its finite-d check.")
    commands = parser.add_subparsers(dest="command", metavar="{compare,dmft,simulate,plot,sweep,fdt,sgf}")
    for name, help_, dmft, sim in [
        ("compare", "DMFT and simulation side by side (default)", True, True),
        ("dmft", "the d -> infinity DMFT solver", True, False),
        ("simulate", "the finite-d SGD ensemble", False, True),
    ]:
        _add_run_options(commands.add_parser(name, help=help_, epilog=DEFAULTS_NOTE), dmft, sim)
    sweep = commands.add_parser("sweep", help="a grid of DMFT solves or simulations", epilog=DEFAULTS_NOTE)
    sweep.add_argument("--grid", action="append", required=True, metavar="FIELD=V1,V2,...",
                       help="one axis of the grid (repeat for a product grid)")
    sweep.add_argument("--kind", choices=("dmft", "simulate"), default="dmft")
    sweep.add_argument("--observable", choices=OBSERVABLES, default=None,
                       help="what the picture shows (default: test_error, or test_loss for a regression teacher)")
    sweep.add_argument("--store", type=Path, default=None, metavar="DIR",
                       help="keep every finished point in DIR at once; the same command resumes")
    sweep.add_argument("--retry-failed", action="store_true", help="with --store: re-run failed points")
    _add_run_options(sweep, dmft=True, sim=True)
    plot = commands.add_parser("plot", help="draw saved results (DMFT and simulation results together; a "
                                            "sweep or an sgf result on its own)")
    plot.add_argument("files", nargs="+", type=Path, metavar="FILE.npz")
    plot.add_argument("--out", type=Path, required=True, metavar="PNG")
    plot.add_argument("--log-time", action="store_true")
    plot.add_argument("--labels", nargs="+", metavar="LABEL",
                      help="one legend entry per file (default: what differs between the runs' configs)")
    plot.add_argument("--quiet", action="store_true", help="no note of the file written")
    fdt = commands.add_parser(
        "fdt", help="the fluctuation-dissipation plot and T_eff ± sem of a DMFT result or config",
        description="The fluctuation-dissipation curve chi(t, t_w) against C(t,t) - C(t,t_w) at each "
                    "waiting time and the effective temperature with its Monte Carlo error, of a saved "
                    "DMFT result (RESULT.npz) or, without one, of the config given by the options (solved "
                    "with --keep-groups).", epilog=DEFAULTS_NOTE)
    fdt.add_argument("result", nargs="?", type=Path, metavar="RESULT.npz",
                     help="a saved DMFT result (e.g. dmft-sgd-output/dmft.npz); without it the config "
                          "options are solved")
    fdt.add_argument("--t-w", dest="t_w", nargs="+", type=float, required=True, metavar="T",
                     help="waiting times (in the units of t; each rounded to the nearest step)")
    fdt.add_argument("--out", type=Path, default=Path("dmft-sgd-output") / "fdt.png", metavar="FILE",
                     help="the picture (default dmft-sgd-output/fdt.png)")
    fdt.add_argument("--save", type=Path, default=None, metavar="FILE.npz",
                     help="also write the solved result (config runs only)")
    _add_run_options(fdt, dmft=True, sim=False, outputs=False)
    _add_sgf_parser(commands)
    return parser


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"--config: cannot read {path}: {exc.strerror}") from None
    try:
        if path.suffix.lower() == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # Python 3.10
                import tomli as tomllib

            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--config: {path} is not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"--config: {path} must hold a table of keys")
    check_field_names(data, allowed=RUN_KEYS, error=UsageError, where=f"--config: {path}: ")
    return data


def settings_from_args(args: argparse.Namespace, base: dict[str, Any] | None = None) -> tuple[Config, dict[str, Any]]:
    """The Config and run options: built-in defaults (updated by a command's own `base`)
    < config file < command line."""
    merged: dict[str, Any] = {**DEFAULT_CONFIG, **(base or {}), **DEFAULT_RUN}
    if getattr(args, "config", None) is not None:
        merged.update(_read_config_file(args.config))
    for key in (*field_names(), *RUN_KEYS):
        value = getattr(args, key, None)
        if value is not None:
            merged[key] = _given(value)
    if getattr(args, "lr_schedule", None) is not None:
        if getattr(args, "lr", None) is not None:
            raise UsageError("--lr-schedule and --lr contradict each other: the schedule "
                             "sets every step's rate; give one of them")
        merged["lr"] = _read_schedule(args.lr_schedule)
        if getattr(args, "steps", None) is None:
            merged["steps"] = len(merged["lr"])  # the schedule's length, unless given
    try:
        cfg = Config(**{k: merged[k] for k in field_names() if k in merged})
    except (ValueError, TypeError) as exc:
        raise UsageError(_refusal(exc)) from None
    return cfg, {k: merged[k] for k in RUN_KEYS}


def _read_schedule(path: Path) -> tuple[float, ...]:
    """A learning-rate schedule from a text file: one rate per step, separated by
    whitespace, commas or new lines (``#`` starts a comment)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"--lr-schedule: cannot read {path}: {exc.strerror}") from None
    words = " ".join(line.split("#", 1)[0] for line in text.splitlines()).replace(",", " ").split()
    try:
        rates = tuple(float(w) for w in words)
    except ValueError as exc:
        raise UsageError(f"--lr-schedule: {path}: {exc}") from None
    if not rates:
        raise UsageError(f"--lr-schedule: {path} holds no rate")
    return rates


def _refusal(exc: Exception, own: Sequence[str] = ()) -> str:
    """A refusal's message, led by the option that sets the parameter it names: the
    error's ``parameter`` field (set by the core and by the package's own checks), never
    its text. `own`: a command's own options (``--lrs``), spelt as they are."""
    parameter = getattr(exc, "parameter", None)
    if not isinstance(parameter, str):
        return str(exc)
    if parameter in own:
        return f"--{parameter.replace('_', '-')}: {exc}"
    if parameter in (*field_names(), *RUN_KEYS, *DMFT_KEYS):
        return f"{_option(parameter)}: {exc}"
    return str(exc)


def _solver_options(args: argparse.Namespace) -> dict[str, Any]:
    """The DMFT solver's keywords given on the command line."""
    return {k: _given(getattr(args, k)) for k in DMFT_KEYS if getattr(args, k, None) is not None}


def _show_progress(args: argparse.Namespace) -> bool:
    """Progress bars: as asked, else when stderr is a terminal (not a log file) and not --quiet."""
    if args.progress is not None:
        return bool(args.progress)
    return not args.quiet and sys.stderr.isatty()


def _run_dmft(cfg: Config, run: dict[str, Any], options: dict[str, Any], show: bool) -> DMFTResult | NetworkDMFTResult:
    progress = Bar("DMFT", quiet=not show)
    try:
        result = solve_dmft(cfg, samples=run["samples"], seed=run["seed"], threads=run["threads"],
                            progress=progress, **options)
        progress(cfg.steps, cfg.steps)  # a run faster than the first report still shows its bar
        return result
    finally:
        progress.close()


def _run_simulation(cfg: Config, run: dict[str, Any], show: bool) -> SimulationResult | NetworkResult:
    progress = Bar("SGD", quiet=not show, per=run["replicas"])  # the ensemble reports replica-steps
    try:
        result = simulate(cfg, d=run["d"], replicas=run["replicas"], seed=run["seed"], threads=run["threads"],
                          progress=progress)
        progress(run["replicas"] * cfg.steps, run["replicas"] * cfg.steps)
        return result
    finally:
        progress.close()


def _final(result: DMFTResult | SimulationResult, name: str) -> tuple[float, float]:
    """The last value of an observable (the ensemble mean) and its standard error (NaN
    where the run reports none: one group, one replica)."""
    spread = result.groups if isinstance(result, DMFTResult) else result.replicas
    value = float(result.mean(name)[-1])
    return value, float(result.sem(name)[-1]) if spread > 1 else math.nan


def _with_sem(value: float, sem: float) -> str:
    return f"{value:.5f}" if math.isnan(sem) else f"{value:.5f} ± {sem:.5f}"


def summary_table(dmft: DMFTResult | None, sim: SimulationResult | None) -> str:
    """Final values: DMFT ± its Monte Carlo sem, simulation mean ± sem."""
    head = f"{'observable':<12}"
    if dmft is not None:
        head += f"{'DMFT':>22}"
    if sim is not None:
        head += f"{f'SGD d={sim.d}':>22}"
    lines = [head]
    first = dmft or sim
    shown = recorded(first.config) if first is not None else OBSERVABLES
    for name in shown:
        line = f"{name:<12}"
        for result in (dmft, sim):
            if result is not None:
                line += f"{_with_sem(*_final(result, name)):>22}"
        lines.append(line)
    return "\n".join(lines)


def network_table(results: Sequence[NetworkResult | NetworkDMFTResult]) -> str:
    """Final values of a network's runs (the DMFT, the simulation, or both), mean ± sem
    over their groups or replicas: the observables, each unit's overlaps M[k,j] and the
    Gram matrix Q[k,l] (k <= l)."""
    import numpy as np

    def title(res: NetworkResult | NetworkDMFTResult) -> str:
        return f"SGD d={res.d}" if isinstance(res, NetworkResult) else "DMFT"

    def final(values: np.ndarray) -> str:
        last = values[:, -1]
        sem = float(last.std(ddof=1) / np.sqrt(last.size)) if last.size > 1 else math.nan
        return f"{_with_sem(float(last.mean()), sem):>22}"

    first = results[0]
    lines = [f"{'observable':<12}" + "".join(f"{title(r):>22}" for r in results)]
    for name in first.recorded[2:]:
        lines.append(f"{name:<12}" + "".join(final(r[name]) for r in results))
    for k in range(first.hidden):
        for j in range(first.teacher_units):
            lines.append(f"{f'M[{k},{j}]':<12}" + "".join(final(r.M[:, :, k, j]) for r in results))
    for k in range(first.hidden):
        for other in range(k, first.hidden):
            lines.append(f"{f'Q[{k},{other}]':<12}" + "".join(final(r.Q[:, :, k, other]) for r in results))
    return "\n".join(lines)


def _draw(results: Sequence[DMFTResult | SimulationResult], path: Path, log_time: bool, quiet: bool, required: bool,
          labels: list[str] | None = None) -> bool:
    try:
        from .plot import plot_observables, save_figure

        fig = plot_observables(results, labels=labels, log_time=log_time)
    except ImportError as exc:
        if required:
            raise
        print(f"dmft-sgd: note: {exc} (no picture written)", file=sys.stderr)
        return False
    save_figure(fig, path)
    if not quiet:
        print(f"wrote {path}")
    return True


def _draw_network(results: Sequence[NetworkResult | NetworkDMFTResult], path: Path, log_time: bool,
                  quiet: bool) -> None:
    try:
        from .plot import plot_network, save_figure

        fig = plot_network(results, log_time=log_time)
    except ImportError as exc:
        print(f"dmft-sgd: note: {exc} (no picture written)", file=sys.stderr)
        return
    save_figure(fig, path)
    if not quiet:
        print(f"wrote {path}")


def _command_run(args: argparse.Namespace) -> int:
    cfg, run = settings_from_args(args)
    want_dmft = args.command in ("compare", "dmft")
    want_sim = args.command in ("compare", "simulate")
    out: Path = args.out
    # Check the run options before any work (the solvers would, but only one at a time).
    try:
        from ._checks import as_int, as_seed, as_threads

        as_seed(run["seed"])
        as_threads(run["threads"])
        if want_dmft:
            as_int("samples", run["samples"], 2)
        if want_sim:
            as_int("d", run["d"], 1)
            as_int("replicas", run["replicas"], 1)
    except (ValueError, TypeError) as exc:
        raise UsageError(_refusal(exc)) from None
    if not args.quiet:
        print(f"config: {cfg}")
    dmft = sim = None
    show = _show_progress(args)
    try:
        if want_dmft:
            dmft = _run_dmft(cfg, run, _solver_options(args), show)
        if want_sim:
            sim = _run_simulation(cfg, run, show)
    except (ValueError, TypeError) as exc:
        raise UsageError(_refusal(exc)) from None
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(sim, NetworkResult) or isinstance(dmft, NetworkDMFTResult):  # a two-layer network
        nets = [r for r in (dmft, sim) if isinstance(r, (NetworkResult, NetworkDMFTResult))]
        saved = [r.save(out / ("sim.npz" if isinstance(r, NetworkResult) else "dmft.npz")) for r in nets]
        print(network_table(nets))
        if not args.quiet:
            print("wrote " + ", ".join(str(p) for p in saved))
        _draw_network(nets, out / f"{args.command}.png", args.log_time, args.quiet)
        return 0
    written = []
    if dmft is not None:
        written.append(dmft.save(out / "dmft.npz"))
    if sim is not None:
        written.append(sim.save(out / "sim.npz"))
    print(summary_table(dmft, sim))
    if not args.quiet:
        print("wrote " + ", ".join(str(p) for p in written))
    results = [r for r in (dmft, sim) if r is not None]
    _draw(results, out / f"{args.command}.png", args.log_time, args.quiet, required=False)
    return 0


def parse_grid(specs: Sequence[str]) -> dict[str, list[Any]]:
    """``["batch=0.1,0.3", "tau=none,5"]`` -> ``{"batch": [0.1, 0.3], "tau": [None, 5.0]}``."""
    grid: dict[str, list[Any]] = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        name = name.strip()
        if not sep or not values.strip():
            raise UsageError(f"--grid: expected FIELD=V1,V2,..., got {spec!r}")
        check_field_names([name], error=UsageError, where="--grid: ")
        if name in grid:
            raise UsageError(f"--grid: {name} given twice")
        convert = _field_parser(FIELDS[name])
        try:
            grid[name] = [_given(convert(v.strip())) for v in values.split(",")]
        except (ValueError, argparse.ArgumentTypeError) as exc:
            raise UsageError(f"--grid: bad value for {name} in {spec!r} ({exc})") from None
    return grid


def _command_sweep(args: argparse.Namespace) -> int:
    from .sweep import sweep

    cfg, run = settings_from_args(args)
    grid = parse_grid(args.grid)
    if args.observable is None:
        args.observable = "test_error" if cfg.classifies else "test_loss"
    elif args.observable not in recorded(cfg):
        raise UsageError(f"--observable {args.observable} is not recorded for teacher={cfg.teacher!r} "
                         f"(real-valued labels); use test_loss or train_loss")
    kwargs: dict[str, Any] = {"threads": run["threads"]} if run["threads"] is not None else {}
    solver = _solver_options(args)
    if args.kind == "dmft":
        kwargs.update(samples=run["samples"], **solver)
    elif solver:
        raise UsageError(f"{_option(next(iter(solver)))} applies to DMFT points, not --kind simulate")
    else:
        kwargs.update(d=run["d"], replicas=run["replicas"])
    bar = Bar("sweep", unit="point", quiet=not _show_progress(args))
    try:
        result = sweep(cfg, grid, kind=args.kind, seed=run["seed"], progress=bar, store=args.store,
                       retry_failed=args.retry_failed, **kwargs)
    except (ValueError, TypeError) as exc:
        raise UsageError(_refusal(exc)) from None
    finally:
        bar.close()
    args.out.mkdir(parents=True, exist_ok=True)
    path = result.save(args.out / "sweep.npz")
    for changes, res in zip(result.points, result.results):
        point = ", ".join(f"{k}={v}" for k, v in changes.items())
        if res is None:
            value = "failed"
        elif getattr(res, args.observable) is None:  # an error of a regression teacher's point
            value = "not recorded"
        else:
            value = _with_sem(*_final(res, args.observable))
        print(f"{point:<40} {args.observable} = {value}")
    for failure in result.failures:
        print(f"failed: {failure['changes']}: {failure['error']}")
    if not args.quiet:
        print(f"wrote {path}")
    try:
        from .plot import plot_sweep, save_figure

        picture = save_figure(plot_sweep(result, args.observable), args.out / "sweep.png")
        if not args.quiet:
            print(f"wrote {picture}")
    except ImportError as exc:
        print(f"dmft-sgd: note: {exc} (no picture written)", file=sys.stderr)
    return 0


def _command_plot(args: argparse.Namespace) -> int:
    results = []
    for path in args.files:
        try:
            results.append(load(path))
        except FileNotFoundError:
            raise UsageError(f"plot: no such file {path}") from None
        except ValueError as exc:
            raise UsageError(f"plot: {exc}") from None
    from .sgf import SGFResult
    from .sweep import SweepResult

    own_plot = [(path, r) for path, r in zip(args.files, results) if isinstance(r, (SweepResult, SGFResult))]
    if own_plot:
        path, result = own_plot[0]
        if len(results) > 1:
            raise UsageError(f"plot: {path} holds a {type(result).__name__}, drawn on its own: give it alone")
        from .plot import plot_sgf, plot_sweep, save_figure

        figure = (plot_sgf(result, log_time=args.log_time) if isinstance(result, SGFResult)
                  else plot_sweep(result))
        written = save_figure(figure, args.out)
        if not args.quiet:
            print(f"wrote {written}")
        return 0
    if args.labels is not None and len(args.labels) != len(results):
        raise UsageError(f"--labels: give one label per file ({len(results)}), got {len(args.labels)}")
    _draw(results, args.out, args.log_time, quiet=args.quiet, required=True, labels=args.labels)
    return 0


def _given_run_options(args: argparse.Namespace) -> list[str]:
    """The options of a run (Config fields, run and solver options, files) given on the
    command line, as spelt there."""
    names = (*field_names(), "lr_schedule", "config", *RUN_KEYS, *DMFT_KEYS, "save")
    return [_option(name) for name in names if getattr(args, name, None) is not None]


def fdt_table(curves: Sequence[Any]) -> str:
    """Each waiting time and its effective temperature ± Monte Carlo error."""
    lines = [f"{'t_w':>10}  {'T_eff':>20}"]
    for curve in curves:
        lines.append(f"{curve.t_w:>10g}  {_with_sem(curve.effective_temperature, curve.effective_temperature_sem):>20}")
    return "\n".join(lines)


def _command_fdt(args: argparse.Namespace) -> int:
    from .fdt import fdt, waiting_step

    if args.result is not None:
        given = _given_run_options(args)
        if given:
            raise UsageError(f"fdt: {', '.join(given)} apply to a run; RESULT.npz is solved already "
                             f"(give either a result or the config options)")
        try:
            result = load(args.result)
        except FileNotFoundError:
            raise UsageError(f"fdt: no such file {args.result}") from None
        except ValueError as exc:
            raise UsageError(f"fdt: {exc}") from None
        if not isinstance(result, DMFTResult):
            raise UsageError(f"fdt: {args.result} holds a {type(result).__name__}, not a DMFT result")
        try:
            for t_w in args.t_w:
                waiting_step(result.config, result.t, t_w)
        except ValueError as exc:
            raise UsageError(f"--t-w: {exc}") from None
    else:
        cfg, run = settings_from_args(args)
        times = _core.times(cfg.to_dict())  # the grid, to check --t-w before work
        try:
            for t_w in args.t_w:
                waiting_step(cfg, times, t_w)
            from ._checks import as_int, as_seed, as_threads

            as_seed(run["seed"])
            as_threads(run["threads"])
            as_int("samples", run["samples"], 2)
        except ValueError as exc:
            raise UsageError(_refusal(exc, own=("t_w",))) from None
        except TypeError as exc:
            raise UsageError(_refusal(exc)) from None
        if not args.quiet:
            print(f"config: {cfg}")
        options = {"keep_groups": True, **_solver_options(args)}
        try:
            result = _run_dmft(cfg, run, options, _show_progress(args))
        except (ValueError, TypeError) as exc:
            raise UsageError(_refusal(exc)) from None
        if args.save is not None:
            path = result.save(args.save)
            if not args.quiet:
                print(f"wrote {path}")
    curves = []
    notes: dict[str, None] = {}
    for t_w in args.t_w:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            curves.append(fdt(result, t_w))
        for warning in caught:
            message = str(warning.message)
            if "holds no group's C and R" in message:  # once, not per waiting time
                message = message.split(": ", 1)[1]
            notes[message] = None
    for message in notes:
        print(f"dmft-sgd: {message}", file=sys.stderr)
    print(fdt_table(curves))
    try:
        from .plot import describe, plot_fdt, save_figure

        waits = sorted({c.t_w for c in curves})
        title = "fluctuation-dissipation plot" + (f", $t_w$ = {waits[0]:g}" if len(waits) == 1 else "")
        figure = plot_fdt(curves, title=f"{title}\n{describe(result.config)}",
                          temperature=result.config.temperature or None)
    except ImportError as exc:
        print(f"dmft-sgd: note: {exc} (no picture written)", file=sys.stderr)
        return 0
    picture = save_figure(figure, args.out)
    if not args.quiet:
        print(f"wrote {picture}")
    return 0


#: The sgf command's changes to the built-in run: the SGF needs persistent mini-batches
#: (plain SGD has none at fixed b), and t = 10 keeps the finest level (lr/4) at 201 steps.
SGF_CONFIG = dict(tau=1.0, steps=51)
#: The times of the sgf command's table: these fractions of the horizon.
SGF_TABLE_FRACTIONS = (0.1, 0.25, 0.5, 1.0)


def _add_sgf_parser(commands: Any) -> None:
    sgf = commands.add_parser(
        "sgf", help="the stochastic gradient flow: the DMFT extrapolated to lr -> 0 at fixed tau and b",
        description="The stochastic gradient flow (dmft_sgd.sgf): the DMFT on a ladder of learning rates "
                    "solved in one coupled pass and extrapolated to lr -> 0 at fixed tau, batch and t "
                    "(Richardson, per group of samples). Prints the limit ± its Monte Carlo error and the "
                    "discretisation error estimate at a few times; writes sgf.npz (the result: "
                    "dmft_sgd.load reads it) and sgf.png (the levels and the limit). The built-in run here has tau=1 and steps=51 (t = 10).",
        epilog=DEFAULTS_NOTE)
    sgf.add_argument("--lrs", nargs="+", type=float, metavar="LR",
                     help="the ladder, coarsest first, each the one before divided by an integer >= 2 "
                          "(default: lr, lr/2, lr/4)")
    sgf.add_argument("--order", type=_parse_int, metavar="P",
                     help="order of the extrapolation, 1 .. len(lrs) - 1 (default: the highest)")
    _add_run_options(sgf, dmft=True, sim=False)


def sgf_table(result: Any) -> str:
    """The limit ± sem and the discretisation error ± sem of every recorded observable at
    a few times (`SGF_TABLE_FRACTIONS` of the horizon)."""
    import numpy as np

    steps = result.t.size
    ks = sorted({max(1, min(steps - 1, round(f * (steps - 1)))) for f in SGF_TABLE_FRACTIONS})
    spread = result.groups > 1
    lines = [f"ladder lrs = {', '.join(f'{lr:g}' for lr in result.lrs)}, Richardson order {result.order}, "
             f"S = {result.samples}, {result.groups} groups",
             f"{'observable':<12}{'t':>8}{'limit lr -> 0':>24}{'discretisation error':>26}"]
    for name in result.observables:
        limit, error = result.mean(name), result.discretisation_error(name)
        sem = result.sem(name) if spread else np.full(steps, math.nan)
        error_sem = result.discretisation_error_sem(name) if spread else np.full(steps, math.nan)
        for k in ks:
            lines.append(f"{name:<12}{result.t[k]:>8g}{_with_sem(float(limit[k]), float(sem[k])):>24}"
                         f"{_with_sem(float(error[k]), float(error_sem[k])):>26}")
    return "\n".join(lines)


def _command_sgf(args: argparse.Namespace) -> int:
    from .sgf import sgf

    cfg, run = settings_from_args(args, base=SGF_CONFIG)
    solver = {k: v for k, v in _solver_options(args).items() if k in ("groups", "response", "band", "keep_kernels")}
    if not args.quiet:
        print(f"config: {cfg}")
    show = _show_progress(args)
    progress = Bar("SGF", quiet=not show)
    try:
        result = sgf(cfg, lrs=args.lrs, order=args.order, samples=run["samples"], seed=run["seed"],
                     threads=run["threads"], progress=progress, **solver)
    except (ValueError, TypeError) as exc:
        raise UsageError(_refusal(exc, own=("lrs", "order"))) from None
    finally:
        progress.close()
    print(sgf_table(result))
    args.out.mkdir(parents=True, exist_ok=True)
    saved = result.save(args.out / "sgf.npz")  # the levels, before anything else can fail
    if not args.quiet:
        print(f"wrote {saved}")
    try:
        from .plot import plot_sgf, save_figure

        figure = plot_sgf(result, log_time=args.log_time)
    except ImportError as exc:
        print(f"dmft-sgd: note: {exc} (no picture written)", file=sys.stderr)
        return 0
    picture = save_figure(figure, args.out / "sgf.png")
    if not args.quiet:
        print(f"wrote {picture}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["compare", *argv]
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _print_warning
            if args.command == "plot":
                return _command_plot(args)
            if args.command == "sweep":
                return _command_sweep(args)
            if args.command == "fdt":
                return _command_fdt(args)
            if args.command == "sgf":
                return _command_sgf(args)
            return _command_run(args)
    except UsageError as exc:
        print(f"dmft-sgd: error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(f"dmft-sgd: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("dmft-sgd: interrupted", file=sys.stderr)
        return 130
    except (RuntimeError, MemoryError) as exc:  # DivergenceError, memory refusals
        print(f"dmft-sgd: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
