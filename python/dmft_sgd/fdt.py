"""The fluctuation-dissipation relation of a DMFT solution and the effective temperature
it defines (theory.md section 5, eq. 5.1)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _core
from ._checks import as_float
from ._errors import invalid
from .config import Config
from .network import NetworkDMFTResult
from .results import DMFTResult


@dataclass(frozen=True)
class FDTCurve:
    """The parametric fluctuation-dissipation curve at waiting time `t_w` (what `fdt`
    returns; ``dmft_sgd.plot.plot_fdt`` draws it), with its Monte Carlo errors.

    Attributes
    ----------
    t_w : float
        The waiting time used: the time of the step nearest to the one asked for.
    t : ndarray
        Times t >= t_w (the grid's times from step k_w on).
    chi : ndarray
        Integrated response chi(t, t_w) = sum_{t_w <= s < t} dt_s R(t, s).
    dC : ndarray
        C(t, t) - C(t, t_w).
    effective_temperature : float
        1/slope of the least-squares line through the origin of chi against dC; in
        equilibrium chi = dC / temperature. NaN, with a RuntimeWarning, where that slope
        is <= 0 (a transient: no temperature is defined).
    chi_sem, dC_sem : ndarray or None
        Monte Carlo standard errors of ``chi`` and ``dC``: the spread of the groups'
        curves (ddof=1) over sqrt(groups). NaN where the result did not keep each
        group's C and R (a RuntimeWarning says so) or has one group; None only for a
        curve made by hand.
    effective_temperature_sem : float
        Monte Carlo standard error of ``effective_temperature``: the temperature fitted
        to each group's curve with the same formula, their spread (ddof=1) over
        sqrt(groups). NaN where the curves' errors are, and where a group's slope is
        <= 0 (a RuntimeWarning says so: more samples per group).
    residual_ratio : float
        How far the curve is from its fitted line, in units of its Monte Carlo noise:
        the root-mean-square residual ``chi - dC / effective_temperature`` over the
        root-mean-square standard error of that residual (each group's residual from its
        own fitted line: their spread over sqrt(groups)). About 1 where the linear FDT
        holds (measured over 100 seeds of an equilibrium curve: mean 0.96, largest 2.0);
        above `LINEAR_FDT_THRESHOLD` (3) ``fdt`` warns that it does not, and the
        temperature and its error bar only describe an average slope. NaN where the
        errors are (no groups' C and R, one group).
    """

    t_w: float
    t: np.ndarray
    chi: np.ndarray
    dC: np.ndarray
    effective_temperature: float
    chi_sem: np.ndarray | None = None
    dC_sem: np.ndarray | None = None
    effective_temperature_sem: float = math.nan
    residual_ratio: float = math.nan


#: The `FDTCurve.residual_ratio` beyond which `fdt` warns that the curve is not a line:
#: its residual is three times its Monte Carlo noise.
LINEAR_FDT_THRESHOLD = 3.0


def _curves(C: np.ndarray, R: np.ndarray, k_w: int, lr: float | tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """chi and dC from step k_w on (eq. 5.1) of one (T, T) pair, or of a stack (G, T, T)
    of the groups' (then (G, T - k_w) each)."""
    # chi(k, k_w) = sum_{k_w <= s < k} dt_s R(k, s): row sums of R over the columns
    # k_w..k-1 (R is zero on and above the diagonal), weighted by each step's dt.
    if isinstance(lr, tuple):
        chi = R[..., k_w:, k_w:] @ np.asarray(lr)[k_w:]
    else:
        chi = lr * R[..., k_w:, k_w:].sum(axis=-1)
    dC = np.diagonal(C, axis1=-2, axis2=-1)[..., k_w:] - C[..., k_w:, k_w]
    return chi, dC


def _temperature(chi: np.ndarray, dC: np.ndarray) -> np.ndarray:
    """T_eff = sum dC^2 / sum chi dC along the last axis; NaN where the slope is <= 0."""
    denominator = np.sum(chi * dC, axis=-1)
    squares = np.sum(dC * dC, axis=-1)
    out: np.ndarray = np.where(denominator > 0, squares / np.where(denominator > 0, denominator, 1.0), np.nan)
    return out


def _slope(chi: np.ndarray, dC: np.ndarray) -> np.ndarray:
    """The least-squares slope through the origin of chi against dC along the last axis
    (1/T_eff where positive); NaN where dC is zero."""
    squares = np.sum(dC * dC, axis=-1)
    out: np.ndarray = np.where(squares > 0, np.sum(chi * dC, axis=-1) / np.where(squares > 0, squares, 1.0),
                               np.nan)
    return out


def _residual_ratio(chi: np.ndarray, dC: np.ndarray, chis: np.ndarray, dCs: np.ndarray) -> float:
    """The rms residual of the curve (chi, dC) from its line through the origin over the
    rms standard error of that residual, from the groups' curves (chis, dCs) and each
    one's own line (so that the fit's own noise counts); NaN without noise."""
    residual = chi - _slope(chi, dC) * dC
    residuals = chis - _slope(chis, dCs)[:, None] * dCs
    noise = float(np.sum(residuals.var(axis=0, ddof=1))) / chis.shape[0]
    if not noise > 0:
        return math.nan
    return math.sqrt(float(np.sum(residual * residual)) / noise)


def waiting_step(cfg: Config, times: np.ndarray, t_w: float) -> int:
    """The step k_w of the waiting time `t_w` on the time grid `times` of `cfg` (the
    nearest step); ValueError unless it is a step before the last."""
    t_w = as_float("t_w", t_w)
    steps = cfg.steps
    if steps < 2:
        raise invalid("t_w", t_w, "t_w needs a run of two steps or more (a time before the last step)")
    k_w = _core.step_at(cfg.to_dict(), t=t_w)  # the core's one rule: the nearest step
    if k_w is None or not k_w < steps - 1:
        raise invalid("t_w", t_w, f"t_w must be in [0, {times[steps - 2]:g}] (a time before the last step), "
                                  f"got {t_w}")
    return k_w


def _two_time(result: Any, unit: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(C, R, each group's C, each group's R) of a single unit's DMFT, or of a network's:
    the trace over its units of the (T, K, T, K) blocks, or unit `unit`'s diagonal block."""
    if isinstance(result, NetworkDMFTResult):
        K = result.config.hidden
        if unit is not None and (isinstance(unit, bool) or not isinstance(unit, (int, np.integer))
                                 or not 0 <= unit < K):
            raise invalid("unit", unit, f"unit must be None (the trace over the units) or a unit in 0..{K - 1}, "
                                        f"got {unit!r}")
        if result.C is None or result.R is None:
            raise invalid("result", result, "the network's DMFT holds no C and R blocks (2 groups (T K)^2 > 1e7): "
                                            "solve it with keep_groups=True")
        def reduce(blocks: np.ndarray) -> np.ndarray:
            if unit is None:
                traced: np.ndarray = np.einsum("gtksk->gts", blocks)
                return traced
            return blocks[:, :, unit, :, unit]
        C_groups, R_groups = reduce(result.C), reduce(result.R)
        return C_groups.mean(axis=0), R_groups.mean(axis=0), C_groups, R_groups
    if not isinstance(result, DMFTResult):
        raise TypeError(f"result must be a DMFTResult or a NetworkDMFTResult, got {type(result).__name__}")
    if unit not in (None, 0):
        raise invalid("unit", unit, f"a single unit's DMFT has one unit: unit must be None or 0, got {unit!r}")
    return result.C, result.R, result.C_groups, result.R_groups


def fdt(result: DMFTResult | NetworkDMFTResult, t_w: float, unit: int | None = None) -> FDTCurve:
    """The fluctuation-dissipation curve of `result` for the waiting time `t_w` (a time, in
    the units of ``result.t``; rounded to the nearest step), the effective temperature and
    their Monte Carlo errors.

    For a two-layer network (a `NetworkDMFTResult`) the curve is that of the trace over
    the units, ``chi = sum_k chi_kk`` against ``dC = sum_k dC_kk`` (``unit=k``: unit k's
    diagonal block alone): in equilibrium every block obeys ``chi_kl = dC_kl / T``, so
    the trace has the same temperature (theory.md section 5).

    Fit your own windows with the arrays where the curve has two slopes (a fast, thermal
    part and a slow one). The errors come from each group's C and R, which `solve_dmft`
    keeps by default while groups x T^2 <= 1e7 (``keep_groups=True`` keeps them always):
    each group's curve and temperature by the same formulas, and their spread over
    sqrt(groups) (theory.md section 4.4).

    Parameters
    ----------
    result : DMFTResult or NetworkDMFTResult
        A DMFT solution (its C and R, and each group's for the errors).
    t_w : float
        The waiting time, before the last step.
    unit : int or None
        For a network: None (the default) for the trace over the units, or one unit's
        index for its own block.

    Returns
    -------
    FDTCurve
        The curve chi against dC for t >= t_w, its effective temperature and their
        standard errors.

    Raises
    ------
    TypeError
        `result` is not a DMFTResult or a NetworkDMFTResult.
    ValueError
        `t_w` is not a time before the last step; `unit` is not a unit of `result`; a
        network's result holds no C and R blocks.

    Warns
    -----
    RuntimeWarning
        Where no temperature is defined (it is NaN); where the errors cannot be
        computed for a result of two groups or more (they are NaN): its groups' C and R
        were not kept, or a group's slope is <= 0; and where the curve is not a line
        (``residual_ratio`` > 3: its residual from the fitted line is beyond three times
        its Monte Carlo noise), so that the linear FDT does not hold at this `t_w` (not
        yet stationary, or out of equilibrium) and the temperature is only an average
        slope.

    Examples
    --------
    Langevin gradient descent on a convex problem is in equilibrium: its effective
    temperature is the Langevin temperature, up to O(lr) and the Monte Carlo error.

    >>> import dmft_sgd as ds
    >>> cfg = ds.Config(data="teacher", teacher="linear", loss="square", lam=0.5,
    ...                 temperature=0.1, lr=0.05, steps=80)
    >>> curve = ds.fdt(ds.solve_dmft(cfg, samples=400, seed=0), t_w=2.0)
    >>> curve.t_w, curve.chi.shape, curve.chi_sem.shape
    (2.0, (40,), (40,))
    >>> print(f"{curve.effective_temperature:.3f} +- {curve.effective_temperature_sem:.3f}")
    0.092 +- 0.002
    >>> print(f"{curve.residual_ratio:.2f}")      # ~1: a line within its noise
    0.72
    """
    C, R, C_groups, R_groups = _two_time(result, unit)
    lr, times = result.config.lr, result.t
    k_w = waiting_step(result.config, times, t_w)
    chi, dC = _curves(C, R, k_w, lr)
    denominator = float(dC @ chi)
    if denominator > 0:
        effective_temperature = float(dC @ dC) / denominator
    else:
        # A slope <= 0 defines no temperature (typically a transient: t_w before the
        # dynamics has settled, where C(t, t) - C(t, t_w) can fall while chi grows).
        effective_temperature = np.nan
        warnings.warn(
            f"fdt(t_w={times[k_w]:g}): chi against dC has slope {denominator / float(dC @ dC):.3g} "
            "<= 0 (a transient?), which defines no effective temperature: it is NaN; try a "
            "later t_w, or fit a window of the curve" if float(dC @ dC) > 0 else
            f"fdt(t_w={times[k_w]:g}): dC is zero, which defines no effective temperature: it is NaN",
            RuntimeWarning, stacklevel=2)
    chi_sem, dC_sem = np.full_like(chi, np.nan), np.full_like(dC, np.nan)
    temperature_sem = residual_ratio = math.nan
    if result.groups > 1 and (C_groups is None or R_groups is None):
        warnings.warn(
            f"fdt(t_w={times[k_w]:g}): the result holds no group's C and R (solved with keep_groups=False, "
            "or groups x T^2 > 1e7, or read from a file of format version < 3): the error bars are NaN; "
            "solve with keep_groups=True for them", RuntimeWarning, stacklevel=2)
    elif result.groups > 1 and C_groups is not None and R_groups is not None:
        chis, dCs = _curves(C_groups, R_groups, k_w, lr)
        root = math.sqrt(result.groups)
        chi_sem, dC_sem = chis.std(axis=0, ddof=1) / root, dCs.std(axis=0, ddof=1) / root
        temperatures = _temperature(chis, dCs)
        undefined = int(np.isnan(temperatures).sum())
        if not undefined:
            temperature_sem = float(temperatures.std(ddof=1)) / root
        elif np.isfinite(effective_temperature):  # (else the warning above says enough)
            warnings.warn(
                f"fdt(t_w={times[k_w]:g}): the slope of {undefined} of the {result.groups} groups' curves is "
                "<= 0, which defines no temperature of theirs: effective_temperature_sem is NaN; use more "
                "samples (per group) or a later t_w", RuntimeWarning, stacklevel=2)
        residual_ratio = _residual_ratio(chi, dC, chis, dCs)
        if np.isfinite(effective_temperature) and residual_ratio > LINEAR_FDT_THRESHOLD:
            warnings.warn(
                f"fdt(t_w={times[k_w]:g}): chi against dC is not a line: its residual from the fitted line is "
                f"{residual_ratio:.3g} times its Monte Carlo noise (residual_ratio > {LINEAR_FDT_THRESHOLD:g}), "
                "so the linear FDT does not hold at this t_w (not yet stationary, or out of equilibrium) and "
                "effective_temperature, with its error bar, is only an average slope; try a later t_w, or "
                "fit a window of the curve", RuntimeWarning, stacklevel=2)
    return FDTCurve(t_w=float(times[k_w]), t=times[k_w:], chi=chi, dC=dC, effective_temperature=effective_temperature,
                    chi_sem=chi_sem, dC_sem=dC_sem, effective_temperature_sem=temperature_sem,
                    residual_ratio=residual_ratio)
