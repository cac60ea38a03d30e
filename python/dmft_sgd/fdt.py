"""The fluctuation-dissipation relation of a DMFT solution and the effective temperature
it defines (theory.md section 5, eq. 5.1)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ._checks import as_float
from .results import DMFTResult


@dataclass(frozen=True)
class FDTCurve:
    """The parametric fluctuation-dissipation curve at waiting time `t_w` (what `fdt`
    returns; ``dmft_sgd.plot.plot_fdt`` draws it).

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
    """

    t_w: float
    t: np.ndarray
    chi: np.ndarray
    dC: np.ndarray
    effective_temperature: float


def fdt(result: DMFTResult, t_w: float) -> FDTCurve:
    """The fluctuation-dissipation curve of `result` for the waiting time `t_w` (a time, in
    the units of ``result.t``; rounded to the nearest step), and the effective temperature.

    Fit your own windows with the arrays where the curve has two slopes (a fast, thermal
    part and a slow one).

    Parameters
    ----------
    result : DMFTResult
        A DMFT solution (its C and R).
    t_w : float
        The waiting time, before the last step.

    Returns
    -------
    FDTCurve
        The curve chi against dC for t >= t_w and its effective temperature.

    Raises
    ------
    TypeError
        `result` is not a DMFTResult.
    ValueError
        `t_w` is not a time before the last step.

    Examples
    --------
    Langevin gradient descent on a convex problem is in equilibrium: its effective
    temperature is the Langevin temperature, up to O(lr) and the Monte Carlo error.

    >>> import dmft_sgd as ds
    >>> cfg = ds.Config(data="teacher", teacher="linear", loss="square", lam=0.5,
    ...                 temperature=0.1, lr=0.05, steps=80)
    >>> curve = ds.fdt(ds.solve_dmft(cfg, samples=400, seed=0), t_w=2.0)
    >>> curve.t_w, curve.chi.shape
    (2.0, (40,))
    >>> print(f"{curve.effective_temperature:.2f}")
    0.09
    """
    if not isinstance(result, DMFTResult):
        raise TypeError(f"result must be a DMFTResult, got {type(result).__name__}")
    t_w = as_float("t_w", t_w)
    lr, steps, times = result.config.lr, result.config.steps, result.t
    if isinstance(lr, tuple):  # a schedule: the nearest step of the time grid
        k_w = int(np.argmin(np.abs(times - t_w))) if np.isfinite(t_w) else -1
    else:
        k_w = int(round(t_w / lr)) if np.isfinite(t_w) else -1
    if not 0 <= k_w < steps - 1:
        raise ValueError(f"t_w must be in [0, {times[steps - 2]:g}] (a time before the last step), got {t_w}")
    # chi(k, k_w) = sum_{k_w <= s < k} dt_s R(k, s): row sums of R over the columns
    # k_w..k-1 (R is zero on and above the diagonal), weighted by each step's dt.
    if isinstance(lr, tuple):
        chi = result.R[k_w:, k_w:] @ np.asarray(lr)[k_w:]
    else:
        chi = lr * result.R[k_w:, k_w:].sum(axis=1)
    dC = np.diag(result.C)[k_w:] - result.C[k_w:, k_w]
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
    return FDTCurve(t_w=float(times[k_w]), t=times[k_w:], chi=chi, dC=dC, effective_temperature=effective_temperature)
