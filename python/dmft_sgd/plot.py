"""Plots of DMFT and simulation results (matplotlib, the optional extra ``[plot]``).

DMFT results are drawn as lines, simulation ensembles as their mean with a band of
± one standard error, one panel per observable, the parameters in the title.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence, Union

import numpy as np

from .config import Config
from .results import LABELS, OBSERVABLES, DMFTResult, SimulationResult, recorded

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Result = Union[DMFTResult, SimulationResult]

INSTALL_HINT = "plotting needs matplotlib: pip install 'dmft-sgd[plot]'"


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(INSTALL_HINT) from exc
    return plt


def describe(cfg: Config) -> str:
    """A one-line summary of the parameters that matter for `cfg`."""
    if cfg.data == "teacher":
        parts = [f"{cfg.teacher} teacher"] + ([f"noise={cfg.noise:g}"] if cfg.noise else [])
    else:
        parts = [f"{cfg.clusters} clusters", f"Δ={cfg.delta:g}"]
    parts += [cfg.loss, cfg.effective_activation]
    if cfg.effective_activation == "door":
        parts.append(f"θ={cfg.effective_threshold:g}")
    parts += [f"α={cfg.alpha:g}", f"λ={cfg.lam:g}", f"η={cfg.lr:g}", f"b={cfg.batch:g}"]
    if cfg.batch < 1:
        parts.append("plain SGD" if cfg.tau is None else f"τ={cfg.tau:g}")
    if cfg.normalize_batch:
        parts.append("normalized batch")
    if cfg.temperature:
        parts.append(f"T={cfg.temperature:g}")
    if cfg.clusters == 3:
        parts.append(f"ρ={cfg.rho:g}")
    return ", ".join(parts)


def default_label(result: Result) -> str:
    if isinstance(result, DMFTResult):
        return f"DMFT (S={result.samples})"
    return f"SGD d={result.d} ({result.replicas} runs)"


def plot_observables(
    results: Sequence[Result],
    labels: Sequence[str] | None = None,
    observables: Sequence[str] | None = None,
    log_time: bool = False,
    title: str | None = None,
) -> "Figure":
    """One panel per observable; DMFT as lines with their ± sem band, simulations as mean
    ± sem bands.

    Parameters
    ----------
    results : DMFTResult and SimulationResult objects, in any mix.
    labels : legend entries (default: the kind and size of each result).
    observables : which of ``OBSERVABLES`` to draw (default: every one the results record;
        the classification errors are left out for a regression teacher).
    log_time : logarithmic time axis (t = 0 is then left out).
    title : figure title (default: the parameters, if all results share one config).
    """
    if not results:
        raise ValueError("results must hold at least one result")
    if observables is None:
        observables = [o for o in OBSERVABLES if all(o in recorded(r.config) for r in results)]
    unknown = [o for o in observables if o not in OBSERVABLES]
    if unknown:
        raise ValueError(f"observables must be among {OBSERVABLES}, got {unknown}")
    labels = list(labels) if labels is not None else [default_label(r) for r in results]
    if len(labels) != len(results):
        raise ValueError(f"labels must have one entry per result ({len(results)}), got {len(labels)}")
    plt = _pyplot()
    ncols = min(3, len(observables))
    nrows = -(-len(observables) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.3 * nrows), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, name in zip(axes.flat, observables):
        for i, (res, label) in enumerate(zip(results, labels)):
            color = colors[i % len(colors)]
            t = res.t
            keep = t > 0 if log_time else np.ones_like(t, dtype=bool)
            if isinstance(res, SimulationResult):
                mean = res.mean(name)
                sem = res.sem(name) if res.replicas > 1 else np.zeros_like(mean)
                ax.fill_between(t[keep], (mean - sem)[keep], (mean + sem)[keep], color=color, alpha=0.25, lw=0)
                ax.plot(t[keep], mean[keep], "o", ms=3, color=color, label=label,
                        markevery=max(1, int(keep.sum()) // 40))
            else:
                value = res.mean(name)
                if res.groups > 1:
                    sem = res.sem(name)
                    ax.fill_between(t[keep], (value - sem)[keep], (value + sem)[keep], color=color, alpha=0.2, lw=0)
                ax.plot(t[keep], value[keep], "-", lw=1.6, color=color, label=label)
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
    configs = {r.config for r in results}
    if title is None and len(configs) == 1:
        title = describe(next(iter(configs)))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def save_figure(fig: "Figure", path: str | os.PathLike, dpi: int = 110) -> Path:
    """Writes `fig` as an image (format from the suffix, PNG by default) and closes it."""
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    _pyplot().close(fig)
    return path


def plot_sweep(result, observable: str | None = None, at: str | float = "final") -> "Figure":
    """A sweep at a glance: a heat map over two grid axes, curves for one axis (or for the
    first axis, one curve per value of the others), points in order for a list grid.
    `observable` defaults to the test error, or the test loss for a regression teacher."""
    if observable is None:
        observable = "test_error" if result.base_config.classifies else "test_loss"
    plt = _pyplot()
    values = result.array(observable, at)
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    axes = result.axes
    label = LABELS[observable] + ("" if at == "final" else f" at t = {at}")
    if axes is not None and len(axes) == 2:
        (ny, ys), (nx, xs) = axes
        image = ax.imshow(values, origin="lower", aspect="auto", cmap="viridis")
        ax.set_xticks(range(len(xs)), [str(x) for x in xs])
        ax.set_yticks(range(len(ys)), [str(y) for y in ys])
        ax.set(xlabel=nx, ylabel=ny)
        for (i, j), v in np.ndenumerate(values):
            ax.text(j, i, "failed" if np.isnan(v) else f"{v:.3g}", ha="center", va="center", fontsize=8, color="w")
        fig.colorbar(image, ax=ax, label=label)
    elif axes is not None:
        name, xs = axes[0]
        numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
        positions = xs if numeric else list(range(len(xs)))
        curves = values.reshape(len(xs), -1)
        others = list(itertools.product(*(v for _, v in axes[1:])))
        for c, combo in enumerate(others):
            tag = ", ".join(f"{n}={v}" for (n, _), v in zip(axes[1:], combo))
            ax.plot(positions, curves[:, c], "o-", label=tag or None)
        if not numeric:
            ax.set_xticks(positions, [str(x) for x in xs])
        ax.set(xlabel=name, ylabel=label)
        if len(others) > 1:
            ax.legend(fontsize=8)
    else:
        ax.plot(range(len(values)), values, "o")
        ax.set(xlabel="point", ylabel=label)
    ax.set_title(f"{result.kind} sweep; base: {describe(result.base_config)}", fontsize=8)
    fig.tight_layout()
    return fig


def plot_fdt(
    results: Sequence[DMFTResult],
    t_w: float,
    labels: Sequence[str] | None = None,
    title: str | None = None,
) -> "Figure":
    """The parametric fluctuation-dissipation plot of each result at waiting time `t_w`:
    the integrated response chi(t, t_w) against C(t, t) - C(t, t_w) (see `dmft_sgd.fdt`),
    with the line through the origin of slope 1/T_eff, and the equilibrium line of slope
    1/temperature where the config has a temperature."""
    from .fdt import fdt

    if not results:
        raise ValueError("results must hold at least one DMFT result")
    labels = list(labels) if labels is not None else [describe(r.config) for r in results]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (res, label) in enumerate(zip(results, labels)):
        curve = fdt(res, t_w)
        color = colors[i % len(colors)]
        ax.plot(curve.dC, curve.chi, "-", lw=1.8, color=color,
                label=f"{label}: $T_{{eff}}$ = {curve.effective_temperature:.3g}")
        x = np.array([0.0, curve.dC.max()])
        ax.plot(x, x / curve.effective_temperature, ":", color=color, lw=1)
        if res.config.temperature > 0:
            ax.plot(x, x / res.config.temperature, "--", color="gray", lw=0.8)
    ax.set_xlabel(r"$C(t,t) - C(t,t_w)$")
    ax.set_ylabel(r"$\chi(t,t_w) = dt \sum_{t_w \leq s < t} R(t,s)$")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title or f"fluctuation-dissipation plot, $t_w$ = {t_w:g}", fontsize=10)
    fig.tight_layout()
    return fig
