"""Plots of DMFT and simulation results (matplotlib, the optional extra ``[plot]``).

DMFT results are drawn as lines, simulation ensembles as their mean (markers) with a band
of ± one standard error, one panel per observable. Results of one config share a colour;
the legend names what differs between the configs, the title what they share.

The functions return ``matplotlib.figure.Figure`` objects that pyplot does not manage: they
never choose or switch the backend (a notebook's inline figures keep working, a headless
machine needs no display). In Jupyter a returned figure shows as a cell's value (or with
``display(fig)``), also where pyplot was never imported; elsewhere write it with
`save_figure` or ``fig.savefig``.
"""

from __future__ import annotations

import io
import itertools
import os
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence, Union, cast

import numpy as np

from .config import Config, format_lr
from .fdt import FDTCurve, fdt
from .network import NetworkDMFTResult, NetworkResult
from .results import LABELS, OBSERVABLES, DMFTResult, SimulationResult, recorded

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    from .sgf import SGFResult
    from .sweep import SweepResult
else:
    try:
        from matplotlib.figure import Figure
        from matplotlib.patches import Rectangle
    except ImportError:  # pragma: no cover - the [plot] extra is missing: `_figure` says so
        Figure = Rectangle = None

Result = Union[DMFTResult, SimulationResult]

INSTALL_HINT = "plotting needs matplotlib: pip install 'dmft-sgd[plot]'"
#: Line styles of the DMFT results, and markers of the simulations, that share a config.
LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v")


if Figure is not None:

    class NotebookFigure(Figure):
        """A Figure that Jupyter shows as a PNG even where pyplot (and with it the inline
        backend's display hook) was never imported."""

        def _repr_png_(self) -> bytes:
            buffer = io.BytesIO()
            self.savefig(buffer, format="png")
            return buffer.getvalue()


def _figure(width: float, height: float) -> "Figure":
    """A figure outside pyplot, with a layout that makes room for its titles and labels."""
    if Figure is None:  # pragma: no cover - depends on the environment
        raise ImportError(INSTALL_HINT)
    return NotebookFigure(figsize=(width, height), layout="constrained")


def _colors() -> list[str]:
    import matplotlib

    colors: list[str] = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    return colors


def _wrap(text: str, width_inches: float, fontsize: float) -> str:
    """`text` broken into lines that fit `width_inches` at `fontsize` points."""
    chars = max(20, int(width_inches * 72 / (0.55 * fontsize)))
    return "\n".join(textwrap.fill(line, chars) for line in text.split("\n"))


def _value(value: Any) -> str:
    """A setting's value as a legend or a tick shows it: a schedule summarised (`format_lr`)."""
    if isinstance(value, tuple):
        return format_lr(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _setting(name: str, value: Any) -> str:
    """A setting as a legend shows it: ``lr=0.1``, or ``plain SGD`` for ``tau=None``."""
    return "plain SGD" if name == "tau" and value is None else f"{name}={_value(value)}"


def _tick(name: str, value: Any) -> str:
    """A value of a sweep's axis as its tick shows it (``plain SGD`` for ``tau=None``)."""
    return "plain SGD" if name == "tau" and value is None else _value(value)


def describe(cfg: Config, omit: Sequence[str] = ()) -> str:
    """A one-line summary of the parameters that matter for `cfg`, leaving out the Config
    fields named in `omit` (e.g. the axes of a sweep, or what the legend names)."""
    parts: list[tuple[str, Any]] = []  # (field, text or a false value to leave out)
    if cfg.data == "teacher":
        parts += [("teacher", f"{cfg.teacher} teacher"), ("noise", cfg.noise and f"noise={cfg.noise:g}")]
    else:
        parts += [("clusters", f"{cfg.clusters} clusters"), ("delta", f"Δ={cfg.delta:g}")]
    parts += [("loss", cfg.effective_loss), ("activation", cfg.effective_activation)]
    if cfg.effective_activation == "door":
        parts.append(("threshold", f"θ={cfg.effective_threshold:g}"))
    parts += [("alpha", f"α={cfg.alpha:g}"), ("lam", f"λ={cfg.lam:g}"), ("lr", f"η={format_lr(cfg.lr)}"), ("batch", f"b={cfg.batch:g}")]
    if cfg.batch < 1 or "batch" in omit:
        parts.append(("tau", "plain SGD" if cfg.tau is None else f"τ={cfg.tau:g}"))
    parts.append(("normalize_batch", cfg.normalize_batch and "normalized batch"))
    parts.append(("temperature", cfg.temperature and f"T={cfg.temperature:g}"))
    if cfg.clusters == 3:
        parts.append(("rho", f"ρ={cfg.rho:g}"))
    return ", ".join(text for name, text in parts if text and name not in omit)


def differing_fields(configs: Sequence[Config]) -> list[str]:
    """The Config fields whose values are not the same in all of `configs`, in field order."""
    dicts = [c.to_dict() for c in configs]
    return [name for name in dicts[0] if len({d[name] for d in dicts}) > 1]


def _differences(configs: Sequence[Config]) -> list[str]:
    """Per config, ``"lr=0.1, steps=200"``: its values of the fields that differ (see
    `_setting`)."""
    names = differing_fields(configs)
    return [", ".join(_setting(n, getattr(c, n)) for n in names) for c in configs]


def _common_title(configs: Sequence[Config]) -> str:
    """What `configs` share: their description without the fields that differ (empty
    where even that differs)."""
    omit = differing_fields(configs)
    titles = {describe(c, omit) for c in configs}
    return titles.pop() if len(titles) == 1 else ""


def default_label(result: Result) -> str:
    """The kind and size of a result: "DMFT (S=20000)" or "SGD d=1000 (16 runs)"."""
    if isinstance(result, DMFTResult):
        return f"DMFT (S={result.samples})"
    return f"SGD d={result.d} ({result.replicas} runs)"


def default_labels(results: Sequence[Result]) -> list[str]:
    """Legend entries that tell `results` apart: the config fields that differ between
    them (e.g. "lr=0.1" and "lr=0.05"), the kind and size where those differ too (or
    where the configs are all the same), and the seed where nothing else does."""
    kinds = [default_label(r) for r in results]
    diffs = _differences([r.config for r in results])
    show_kind = len(set(kinds)) > 1 or not any(diffs)
    labels = [", ".join(p for p in (kind if show_kind else "", diff) if p) for kind, diff in zip(kinds, diffs)]
    if len(set(labels)) < len(labels):
        labels = [f"{label}, seed={r.seed}" for label, r in zip(labels, results)]
    return labels


def _styles(results: Sequence[Result]) -> list[tuple[str, str]]:
    """(colour, line style or marker) per result: one colour per config, so a DMFT curve
    and the simulation of its config pair up; results of one config and kind get the
    next line style (DMFT) or marker (simulation)."""
    colors, configs = _colors(), list(dict.fromkeys(r.config for r in results))
    seen: dict[tuple[Config, bool], int] = {}
    styles = []
    for res in results:
        dmft = isinstance(res, DMFTResult)
        n = seen[res.config, dmft] = seen.get((res.config, dmft), -1) + 1
        style = LINESTYLES[n % len(LINESTYLES)] if dmft else MARKERS[n % len(MARKERS)]
        styles.append((colors[configs.index(res.config) % len(colors)], style))
    return styles


def plot_observables(
    results: Result | Sequence[Result],
    labels: Sequence[str] | None = None,
    observables: Sequence[str] | None = None,
    log_time: bool = False,
    title: str | None = None,
) -> "Figure":
    """One panel per observable; DMFT as lines with their ± sem band, simulations as
    markers on their mean ± sem band. Results of one config share a colour.

    Parameters
    ----------
    results : a DMFTResult or SimulationResult, or a sequence of them in any mix.
    labels : legend entries (default: what tells the results apart, see `default_labels`).
    observables : which of ``OBSERVABLES`` to draw (default: every one the results record;
        the classification errors are left out for a regression teacher).
    log_time : logarithmic time axis (t = 0 is then left out).
    title : figure title (default: the parameters the results share).
    """
    if isinstance(results, (DMFTResult, SimulationResult)):
        results = [results]
    results = list(results)
    if not results:
        raise ValueError("results must hold at least one result")
    if observables is None:
        observables = [o for o in OBSERVABLES if all(o in recorded(r.config) for r in results)]
    unknown = [o for o in observables if o not in OBSERVABLES]
    if unknown:
        raise ValueError(f"observables must be among {OBSERVABLES}, got {unknown}")
    labels = list(labels) if labels is not None else default_labels(results)
    if len(labels) != len(results):
        raise ValueError(f"labels must have one entry per result ({len(results)}), got {len(labels)}")
    ncols = min(3, len(observables))
    nrows = -(-len(observables) // ncols)
    fig = _figure(4.2 * ncols, 3.3 * nrows + 0.4)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    styles = _styles(results)
    for ax, name in zip(axes.flat, observables):
        for res, label, (color, style) in zip(results, labels, styles):
            t = res.t
            keep = t > 0 if log_time else np.ones_like(t, dtype=bool)
            if isinstance(res, SimulationResult):
                mean = res.mean(name)
                sem = res.sem(name) if res.replicas > 1 else np.zeros_like(mean)
                ax.fill_between(t[keep], (mean - sem)[keep], (mean + sem)[keep], color=color, alpha=0.2, lw=0)
                ax.plot(t[keep], mean[keep], style, ms=3, color=color, label=label,
                        markevery=max(1, int(keep.sum()) // 40))
            else:
                value = res.mean(name)
                if res.groups > 1:
                    sem = res.sem(name)
                    ax.fill_between(t[keep], (value - sem)[keep], (value + sem)[keep], color=color, alpha=0.2, lw=0)
                ax.plot(t[keep], value[keep], style, lw=1.6, color=color, label=label)
        ax.set_xlabel("time $t = k\\eta$")
        ax.set_ylabel(LABELS[name])
        if log_time:
            ax.set_xscale("log")
        ax.grid(alpha=0.3)
    spare = list(axes.flat)[len(observables):]
    for ax in spare:
        ax.axis("off")
    handles, names = axes.flat[0].get_legend_handles_labels()
    if spare:
        spare[0].legend(handles, names, loc="center", fontsize=9, frameon=False)
    else:
        axes.flat[0].legend(fontsize=8)
    if title is None:
        title = _common_title([r.config for r in results])
    if title:
        fig.suptitle(_wrap(title, 4.2 * ncols, 10), fontsize=10)
    return fig


def save_figure(fig: "Figure", path: str | os.PathLike[str], dpi: int = 110) -> Path:
    """Writes `fig` as an image (format from the suffix, PNG by default) without any
    display; a figure made with pyplot is closed."""
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    pyplot = sys.modules.get("matplotlib.pyplot")  # only a figure of the user's pyplot
    if pyplot is not None and getattr(fig.canvas, "manager", None) is not None:
        pyplot.close(fig)
    return path


def _sweep_values(result: SweepResult, observable: str, at: str | float) -> tuple[np.ndarray, np.ndarray]:
    """The observable and its standard error at every point, shaped as ``result.array``
    (NaN for failed points, and for a sem that the run does not report)."""
    return result.array(observable, at), result.array(observable, at, sem=True)


def _mark_failed(ax: Any, positions: Sequence[Any], failed: np.ndarray) -> None:
    """A red ``x`` on the horizontal axis at each failed position (it has no value to draw)."""
    if failed.any():
        ax.plot([x for x, bad in zip(positions, failed) if bad], [0.0] * int(failed.sum()), "x", color="tab:red",
                ms=9, mew=2, clip_on=False, transform=ax.get_xaxis_transform(), label="failed")


def plot_sweep(result: SweepResult, observable: str | None = None, at: str | float = "final") -> "Figure":
    """A sweep at a glance, with the standard error of every point: a heat map over two
    grid axes (value ± sem in the cells), curves with error bars for one axis (or for the
    first axis, one curve per value of the others), points in order for a list grid. The
    title holds the base config without the swept fields. `observable` defaults to the
    test error, or the test loss for a regression teacher. A failed point is marked: a
    hatched cell reading "failed" on a heat map, a red ``x`` on the horizontal axis
    otherwise, and the title counts them."""
    if observable is None:
        observable = "test_error" if result.base_config.classifies else "test_loss"
    values, sems = _sweep_values(result, observable, at)
    failed = np.array([r is None for r in result.results]).reshape(values.shape)
    axes = result.axes
    two_d = axes is not None and len(axes) == 2
    width = 6.5 if two_d else 5.5
    fig = _figure(width, 4.4)
    ax = fig.subplots()
    label = LABELS[observable] + ("" if at == "final" else f" at t = {at}")
    if two_d and axes is not None:  # (two_d implies axes; mypy cannot see it)
        (ny, ys), (nx, xs) = axes
        image = ax.imshow(values, origin="lower", aspect="auto", cmap="viridis")
        ax.set_xticks(range(len(xs)), [_tick(nx, x) for x in xs])
        ax.set_yticks(range(len(ys)), [_tick(ny, y) for y in ys])
        ax.set(xlabel=nx, ylabel=ny)
        for (i, j), v in np.ndenumerate(values):
            if failed[i, j]:  # no colour (NaN): a hatched cell on the axes' white
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="xx", edgecolor="tab:red",
                                       lw=0, label="failed"))
                text, color = "failed", "k"
            elif np.isnan(v):  # not recorded (a classification error of a regression teacher)
                text, color = "n/a", "k"
            else:
                text, color = f"{v:.3g}" + ("" if np.isnan(sems[i, j]) else f"\n± {sems[i, j]:.2g}"), "w"
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color=color)
        fig.colorbar(image, ax=ax, label=label)
    elif axes is not None:
        name, xs = axes[0]
        numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
        positions = xs if numeric else list(range(len(xs)))
        curves, errors = values.reshape(len(xs), -1), sems.reshape(len(xs), -1)
        others = list(itertools.product(*(v for _, v in axes[1:])))
        for c, combo in enumerate(others):
            tag = ", ".join(_setting(n, v) for (n, _), v in zip(axes[1:], combo))
            ax.errorbar(positions, curves[:, c], yerr=np.nan_to_num(errors[:, c]), fmt="o-", capsize=3,
                        label=tag or None)
        _mark_failed(ax, positions, np.asarray(failed.reshape(len(xs), -1).any(axis=1)))
        if not numeric:
            ax.set_xticks(positions, [_tick(name, x) for x in xs])
        ax.set(xlabel=name, ylabel=label)
        if len(others) > 1:
            ax.legend(fontsize=8)
    else:
        ax.errorbar(range(len(values)), values, yerr=np.nan_to_num(sems), fmt="o", capsize=3)
        _mark_failed(ax, list(range(len(values))), failed)
        ax.set(xlabel="point", ylabel=label)
    swept = [n for n, _ in axes] if axes is not None else sorted({k for p in result.points for k in p})
    title = f"{result.kind} sweep over {', '.join(swept)}; base: {describe(result.base_config, swept)}"
    if failed.any():
        title += f"; {int(failed.sum())} of {failed.size} points failed"
    fig.suptitle(_wrap(title, width, 9), fontsize=9)
    return fig


def plot_fdt(
    curves: FDTCurve | DMFTResult | Sequence[FDTCurve | DMFTResult],
    t_w: float | None = None,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    temperature: float | None = None,
) -> "Figure":
    """The parametric fluctuation-dissipation plot: the integrated response chi(t, t_w)
    against C(t, t) - C(t, t_w), with the line through the origin of slope 1/T_eff. Where
    the curve has Monte Carlo errors (``FDTCurve.chi_sem``, ``dC_sem``) they are drawn as
    error bars of ± one standard error at about 15 points, and the legend gives
    ``T_eff ± sem``.

    Parameters
    ----------
    curves : what ``dmft_sgd.fdt`` returns (an FDTCurve), or DMFT results to compute it
        for at waiting time `t_w`; one or a sequence of them, in any mix.
    t_w : the waiting time of the DMFT results (an FDTCurve carries its own).
    labels : legend entries (default: the config fields in which the results differ).
    title : figure title (default: the waiting time and the parameters the results share).
    temperature : draws the equilibrium line of slope 1/temperature; for DMFT results
        with a Langevin temperature it is drawn from their config.
    """
    if isinstance(curves, (FDTCurve, DMFTResult)):
        curves = [curves]
    items = list(curves)
    if not items:
        raise ValueError("curves must hold at least one FDTCurve or DMFT result")
    if any(isinstance(c, DMFTResult) for c in items) and t_w is None:
        raise ValueError("t_w is needed to compute the curve of a DMFT result")
    results = [c for c in items if isinstance(c, DMFTResult)]
    fdts = [fdt(c, cast(float, t_w)) if isinstance(c, DMFTResult) else c for c in items]  # t_w checked
    if labels is None:
        diffs = iter(_differences([r.config for r in results]) if results else [])
        labels = [next(diffs) if isinstance(c, DMFTResult) else "" for c in items]
    labels = list(labels)
    if len(labels) != len(items):
        raise ValueError(f"labels must have one entry per curve ({len(items)}), got {len(labels)}")
    waits = sorted({c.t_w for c in fdts})
    if len(waits) > 1:
        labels = [", ".join(p for p in (label, f"$t_w$={c.t_w:g}") if p) for label, c in zip(labels, fdts)]
    fig = _figure(5.6, 4.6)
    ax = fig.subplots()
    colors = _colors()
    temperatures = {temperature} if temperature else set()
    temperatures |= {r.config.temperature for r in results if r.config.temperature > 0}
    for i, (curve, label) in enumerate(zip(fdts, labels)):
        color = colors[i % len(colors)]
        t_eff = f"$T_{{eff}}$ = {curve.effective_temperature:.3g}"
        if np.isfinite(curve.effective_temperature_sem):
            t_eff += f" ± {curve.effective_temperature_sem:.2g}"
        ax.plot(curve.dC, curve.chi, "-", lw=1.8, color=color, label=f"{label}: {t_eff}" if label else t_eff)
        x = np.array([0.0, curve.dC.max()])
        ax.plot(x, x / curve.effective_temperature, ":", color=color, lw=1)
        errors = [np.nan_to_num(e) if e is not None and np.isfinite(e).any() else None
                  for e in (curve.dC_sem, curve.chi_sem)]
        if any(e is not None for e in errors):  # ± one standard error, at about 15 points
            ax.errorbar(curve.dC, curve.chi, xerr=errors[0], yerr=errors[1], fmt="none", ecolor=color,
                        elinewidth=0.8, alpha=0.6, errorevery=max(1, curve.dC.size // 15), label="_nolegend_")
    top = max(c.dC.max() for c in fdts)
    for temp in sorted(temperatures):
        ax.plot([0.0, top], [0.0, top / temp], "--", color="gray", lw=0.8, label=f"equilibrium, T = {temp:g}")
    ax.set_xlabel(r"$C(t,t) - C(t,t_w)$")
    ax.set_ylabel(r"$\chi(t,t_w) = dt \sum_{t_w \leq s < t} R(t,s)$")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    if title is None:
        title = "fluctuation-dissipation plot" + (f", $t_w$ = {waits[0]:g}" if len(waits) == 1 else "")
        if results:
            shared = _common_title([r.config for r in results])
            title += f"\n{shared}" if shared else ""
    fig.suptitle(_wrap(title, 5.6, 10), fontsize=10)
    return fig


def plot_sgf(
    result: SGFResult,
    names: Sequence[str] | None = None,
    log_time: bool = False,
    title: str | None = None,
) -> "Figure":
    """The stochastic gradient flow of `sgf`, one column per observable: above, each level
    of the ladder as a line labelled by its learning rate and the limit ``lr -> 0`` in
    black on its band of ± one standard error; below, each level minus the limit (on the
    coarsest grid), which shrinks in proportion to lr, with the limit's ± sem band
    around 0.

    Parameters
    ----------
    result : what ``dmft_sgd.sgf`` returns (an SGFResult).
    names : which observables to draw (default: the test error and the training loss, or
        the test and training losses for a regression teacher).
    log_time : logarithmic time axis (t = 0 is then left out).
    title : figure title (default: the ladder, the order and the config).
    """
    if names is None:
        names = ["test_error" if result.config.classifies else "test_loss", "train_loss"]
    names = list(names)
    if not names:
        raise ValueError("names must hold at least one observable")
    for name in names:
        result.mean(name)  # ValueError for an unknown or unrecorded name
    fig = _figure(4.6 * len(names), 6.4)
    axes = fig.subplots(2, len(names), squeeze=False, sharex="col", height_ratios=(3, 2))
    colors = _colors()
    t = result.t
    keep = t > 0 if log_time else np.ones(t.size, dtype=bool)
    for (top, bottom), name in zip(axes.T, names):
        limit = result.mean(name)
        sem = result.sem(name) if result.groups > 1 else np.zeros_like(limit)
        for i, level in enumerate(result.levels):
            shown = level.t > 0 if log_time else np.ones(level.t.size, dtype=bool)
            color, label = colors[i % len(colors)], f"DMFT, η = {_value(float(result.lrs[i]))}"
            top.plot(level.t[shown], level.mean(name)[shown], "-", lw=1.2, color=color, label=label)
            bottom.plot(t[keep], (result.level(name, i) - limit)[keep], "-", lw=1.2, color=color)
        top.fill_between(t[keep], (limit - sem)[keep], (limit + sem)[keep], color="k", alpha=0.25, lw=0)
        top.plot(t[keep], limit[keep], "--", lw=1.6, color="k", label=f"limit η → 0 (order {result.order}) ± sem")
        bottom.fill_between(t[keep], -sem[keep], sem[keep], color="k", alpha=0.25, lw=0)
        bottom.axhline(0.0, color="k", lw=0.8, ls="--")
        top.set_ylabel(LABELS[name])
        bottom.set_ylabel("level − limit")
        bottom.set_xlabel("time $t = k\\eta$")
        for ax in (top, bottom):
            if log_time:
                ax.set_xscale("log")
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    if title is None:
        title = (f"stochastic gradient flow: {len(result.levels)} coupled levels, Richardson order "
                 f"{result.order}, S = {result.samples}\n{describe(result.config, ('lr',))}")
    fig.suptitle(_wrap(title, 4.6 * len(names), 10), fontsize=10)
    return fig


def plot_network(
    results: NetworkResult | NetworkDMFTResult | Sequence[NetworkResult | NetworkDMFTResult],
    log_time: bool = False,
    title: str | None = None,
) -> "Figure":
    """Two-layer networks' runs (`NetworkResult`, `NetworkDMFTResult`, or both for one
    config): the losses (and errors), each unit's overlaps ``M[k, j]`` with the teacher's
    directions (the specialisation of the hidden units), and the Gram matrix ``Q[k, l]``;
    the DMFT as lines with its ± sem band, simulations as markers with error bars.

    Parameters
    ----------
    results : a NetworkResult or NetworkDMFTResult, or a sequence of them.
    log_time : logarithmic time axis (t = 0 is then left out).
    title : figure title (default: the first run's settings).
    """
    runs = [results] if isinstance(results, (NetworkResult, NetworkDMFTResult)) else list(results)
    if not runs:
        raise ValueError("results must hold at least one network result")
    fig = _figure(13.0, 3.8)
    axes = fig.subplots(1, 3, squeeze=False)[0]
    colors = _colors()

    def draw(ax: Any, res: NetworkResult | NetworkDMFTResult, name: str, index: tuple[int, ...], label: str,
             color: str, style: str) -> None:
        t = res.t
        keep = t > 0 if log_time else np.ones_like(t, dtype=bool)
        values = res[name]
        for i in index:  # the block entry (k, j) of M or Q, kept (runs, T)
            values = values[:, :, i]
        mean = values.mean(axis=0)
        sem = values.std(axis=0, ddof=1) / np.sqrt(values.shape[0]) if values.shape[0] > 1 else 0 * mean
        if isinstance(res, NetworkDMFTResult):
            ax.plot(t[keep], mean[keep], style, color=color, label=f"{label} DMFT")
            ax.fill_between(t[keep], (mean - sem)[keep], (mean + sem)[keep], color=color, alpha=0.25, linewidth=0)
        else:
            every = max(1, int(keep.sum()) // 25)
            ax.errorbar(t[keep][::every], mean[keep][::every], sem[keep][::every], fmt="o", ms=3, color=color,
                        label=f"{label} d={res.d}")

    first = runs[0]
    for res in runs:
        names = [o for o in ("train_loss", "test_loss", "train_error", "test_error") if o in res.recorded]
        for i, name in enumerate(names):
            draw(axes[0], res, name, (), LABELS.get(name, name), colors[i % len(colors)], "-")
        for unit in range(res.hidden):
            for j in range(res.teacher_units):
                draw(axes[1], res, "M", (unit, j), f"M[{unit},{j}]", colors[unit % len(colors)],
                     ("-", "--", ":", "-.")[j % 4])
        for unit in range(res.hidden):
            for other in range(unit, res.hidden):
                color = colors[unit % len(colors)] if other == unit else colors[(res.hidden + unit + other) % len(colors)]
                draw(axes[2], res, "Q", (unit, other), f"Q[{unit},{other}]", color, "-" if other == unit else "--")
    axes[0].set_ylabel("loss / error")
    axes[1].set_ylabel("overlap with the teacher $M_{kj}$")
    axes[2].set_ylabel("Gram matrix $Q_{kl}$")
    for ax in axes:
        ax.set_xlabel("t")
        if log_time:
            ax.set_xscale("log")
        ax.legend(fontsize=6, ncols=2)
    text = title if title is not None else (
        f"K = {first.hidden} units learning K* = {first.teacher_units} ({first.config.teacher_activation}); "
        f"{describe(first.config, omit=('hidden', 'teacher_hidden'))}")
    fig.suptitle(_wrap(text, 13.0, 10), fontsize=10)
    return fig
