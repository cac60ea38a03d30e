"""The stochastic gradient flow (SGF): the continuous-time limit ``lr -> 0`` of SGD at
fixed persistence time ``tau``, batch fraction ``b`` and physical time ``t``, from a
ladder of coupled DMFT solutions extrapolated to ``lr = 0`` (theory.md section 6)."""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from . import _core, _io
from ._checks import as_int
from ._errors import invalid, wrong_type
from ._progress import ProgressCallback, reporter
from .config import Config, as_config
from .dmft import DEFAULTS, _result, _typed_options
from .network import NETWORK_OBSERVABLES, NetworkDMFTResult, is_network, solve_network_dmft
from .results import READERS, DMFTResult, _pandas, check_recorded, from_payload, recorded

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

#: The default ladder: ``(cfg.lr, cfg.lr/2, cfg.lr/4)``, the ratios between its levels.
DEFAULT_RATIOS = (1, 2, 4)
#: `SGFResult.observed_order` warns where the order is below 1/2 by more than this many of
#: its standard errors (jackknife over 8 groups: 7 degrees of freedom, for which 4 is far
#: in the tail; measured on healthy ladders: at most 2.7, 3.2 for a classification error).
ORDER_NOISE_THRESHOLD = 4.0


def richardson_weights(lrs: Sequence[float], order: int) -> np.ndarray:
    """The weights of the Richardson extrapolation of order `order` on the ladder `lrs`
    (coarsest first), one per level (computed by the core, `richardson_weights` of the
    Rust crate): the ``order + 1`` finest levels get the weights w
    that solve ``sum_i w_i = 1`` and ``sum_i w_i h_i^j = 0`` for ``j = 1..order``
    (``h_i = lrs[i]``), so that ``sum_i w_i f(h_i)`` cancels the terms ``h, ..., h^order``
    of ``f(h) = f(0) + c_1 h + c_2 h^2 + ...``; the coarser levels get 0. Order 0 is the
    finest level alone.

    Examples
    --------
    >>> from dmft_sgd.sgf import richardson_weights
    >>> richardson_weights([0.2, 0.1, 0.05], 1).round(12).tolist()
    [0.0, -1.0, 2.0]
    >>> (3 * richardson_weights([0.2, 0.1, 0.05], 2)).round(12).tolist()
    [1.0, -6.0, 8.0]
    """
    if isinstance(order, bool) or not isinstance(order, numbers.Integral) or order < 0:
        raise invalid("order", order, f"order must be an integer >= 0, got {order!r}")
    return np.asarray(_core.richardson_weights([float(lr) for lr in lrs], int(order)))


def _order_from_ratio(ratio: np.ndarray, r1: float, r2: float) -> np.ndarray:
    """The p with ``(r1^p - 1) r2^p / (r2^p - 1) = ratio`` (the ratio of consecutive
    differences of three levels whose steps shrink by r1, then r2, for an error ~ h^p):
    ``log_r(ratio)`` when ``r1 = r2 = r``; otherwise by bisection on [-8, 8]. NaN where
    the ratio is not positive and finite, or no p in [-8, 8] fits."""
    out = np.full(ratio.shape, np.nan)
    good = np.isfinite(ratio) & (ratio > 0)
    if math.isclose(r1, r2):
        out[good] = np.log(ratio[good]) / math.log(r1)
        return out

    def g(p: np.ndarray) -> np.ndarray:
        small = np.abs(p) < 1e-12
        p = np.where(small, 1e-12, p)
        value: np.ndarray = np.log((r1**p - 1) * r2**p / (r2**p - 1))
        return value

    target = np.log(ratio[good])
    lo, hi = np.full(target.shape, -8.0), np.full(target.shape, 8.0)
    for _ in range(80):  # g is increasing in p
        mid = (lo + hi) / 2
        below = g(mid) < target
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    found = (lo + hi) / 2
    found[(g(np.full(target.shape, -8.0)) > target) | (g(np.full(target.shape, 8.0)) < target)] = np.nan
    out[good] = found
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class SGFResult:
    """The stochastic gradient flow of a config: the ``lr -> 0`` limit at fixed ``tau``,
    ``b`` and ``t`` of every recorded observable, with its Monte Carlo error and an
    estimate of the discretisation error left, on the coarsest level's time grid.

    What `sgf` returns. ``result[name]`` (or ``mean(name)``) is the limit of an
    observable, shape (T,) with T the coarsest level's steps; ``sem(name)`` its Monte
    Carlo standard error; ``discretisation_error(name)`` the change that the last order
    of the extrapolation made (an estimate of the error of the order below, hence a
    conservative one of the limit's). ``levels`` holds the DMFT solutions of the ladder
    themselves, each a `DMFTResult` on its own grid.

    Attributes
    ----------
    config : Config
        The settings as given: ``(steps - 1) * lr`` is the horizon of every level; each
        level's own config (its ``lr`` and ``steps``) is ``levels[i].config``.
    lrs : tuple of float
        The learning rates of the levels, coarsest first.
    order : int
        The order of the Richardson extrapolation (1 <= order <= len(lrs) - 1): the
        limit cancels the terms lr, ..., lr^order of the levels' expansion in lr.
    t : ndarray (T,)
        The times of the coarsest level, on which the limit is given (every level holds
        them: level i's step k lrs[0]/lrs[i] is the coarsest level's step k).
    levels : tuple of DMFTResult or of NetworkDMFTResult
        The DMFT at each learning rate of `lrs`, in that order. The finest level is the
        same, bit for bit, as ``solve_dmft`` at that lr with the same seed and options.
        For a two-layer network, each level is its own ``solve_dmft`` (same seed, so the
        same static draws; not coupled beyond them), a `NetworkDMFTResult`; ``mean``,
        ``sem`` and the rest then also take ``"M"`` and ``"Q"`` (shape (T, K, K*) and
        (T, K, K)).
    samples : int
        Effective samples of each level.
    seed : int
        The seed (shared by all levels: they are coupled).
    groups : int
        The independent groups of samples; the error bars are their spread.

    ``t``, ``samples``, ``seed`` and ``groups`` are read from the levels.
    """

    config: Config
    lrs: tuple[float, ...]
    order: int
    levels: tuple[DMFTResult | NetworkDMFTResult, ...]

    @property
    def t(self) -> np.ndarray:
        """The coarsest level's times, on which the limit is given."""
        return self.levels[0].t

    @property
    def samples(self) -> int:
        """Effective samples of each level."""
        return self.levels[0].samples

    @property
    def seed(self) -> int:
        """The seed, shared by all levels."""
        return self.levels[0].seed

    @property
    def groups(self) -> int:
        """The independent groups of samples."""
        return self.levels[0].groups

    @property
    def sem_uncertainty(self) -> float:
        """The relative uncertainty of every ``sem``: 1/sqrt(2 (groups - 1)) (27% at 8
        groups; ``DMFTResult.sem_uncertainty``)."""
        return self.levels[0].sem_uncertainty

    @property
    def observables(self) -> tuple[str, ...]:
        """The observables recorded (all of them, without the classification errors for a
        regression teacher)."""
        first = self.levels[0]
        if isinstance(first, NetworkDMFTResult):
            return tuple(name for name in first.recorded if name in NETWORK_OBSERVABLES)
        return recorded(self.config)

    def group_values(self, name: str) -> np.ndarray:
        """Each level's series of an observable for each group, on the coarsest grid:
        shape (levels, groups, T) (a network's ``M``, ``Q``: (levels, groups, T, K, .)).
        The levels of one group share their randomness, so any function of them (the
        limit, the differences between levels) has its error bar from the spread over
        the groups."""
        first = self.levels[0]
        if isinstance(first, NetworkDMFTResult):
            named = (*self.observables, "M", "Q")
            if name not in named:
                raise ValueError(f"name must be one of {named}, got {name!r}")
        else:
            check_recorded(self.config, name)
        steps = self.t.size
        series = []
        for level in self.levels:
            values = level.group_values(name)
            ratio = (values.shape[1] - 1) // (steps - 1) if steps > 1 else 1
            series.append(values[:, ::ratio])
        return np.stack(series)

    def _extrapolated(self, name: str, order: int) -> np.ndarray:
        """Each group's extrapolation of order `order`, (groups, T)."""
        extrapolated: np.ndarray = np.tensordot(richardson_weights(self.lrs, order), self.group_values(name), axes=1)
        return extrapolated

    def _spread(self, values: np.ndarray) -> np.ndarray:
        if self.groups < 2:
            raise ValueError("sem needs groups >= 2: solve with groups=8 (the default) for error bars")
        sem: np.ndarray = values.std(axis=0, ddof=1) / np.sqrt(self.groups)
        return sem

    def mean(self, name: str) -> np.ndarray:
        """The limit ``lr -> 0`` of an observable, shape (T,): the mean over groups of each
        group's Richardson extrapolation of order `order`."""
        mean: np.ndarray = self._extrapolated(name, self.order).mean(axis=0)
        return mean

    def __getitem__(self, name: str) -> np.ndarray:
        return self.mean(name)

    def sem(self, name: str) -> np.ndarray:
        """Monte Carlo standard error of ``mean(name)``: the spread of the groups'
        extrapolations (ddof=1) over sqrt(groups). The levels of one group share their
        randomness, so their noise mostly cancels in the extrapolation's differences."""
        return self._spread(self._extrapolated(name, self.order))

    def level(self, name: str, i: int) -> np.ndarray:
        """Level `i`'s value of an observable on the coarsest grid, shape (T,)."""
        value: np.ndarray = self.group_values(name)[i].mean(axis=0)
        return value

    def discretisation_error(self, name: str) -> np.ndarray:
        """The limit of order `order` minus that of order ``order - 1`` (order 0: the
        finest level), shape (T,): what the last order of the extrapolation changed, an
        estimate of the discretisation error of the order below (the one left in the
        limit is smaller, if the expansion in lr holds)."""
        error: np.ndarray = self._last_change(name).mean(axis=0)
        return error

    def discretisation_error_sem(self, name: str) -> np.ndarray:
        """Monte Carlo standard error of ``discretisation_error(name)`` (from the groups)."""
        return self._spread(self._last_change(name))

    def _last_change(self, name: str) -> np.ndarray:
        change: np.ndarray = self._extrapolated(name, self.order) - self._extrapolated(name, self.order - 1)
        return change

    def _orders(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """`observed_order(name)` and its jackknife error over the groups (NaN for one
        group), without the warning."""
        if len(self.lrs) < 3:
            raise ValueError(f"observed_order needs three levels or more, got lrs={self.lrs}")
        values = self.group_values(name)[-3:]  # (3, groups, T)
        h = self.lrs[-3:]

        def order(f: np.ndarray) -> np.ndarray:  # f: (3, ...) the levels' values
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = (f[0] - f[1]) / (f[1] - f[2])
            return _order_from_ratio(ratio, h[0] / h[1], h[1] / h[2])

        p = order(values.mean(axis=1))
        G = self.groups
        if G < 2:
            return p, np.full(p.shape, np.nan)
        # Leave each group out in turn: (3, G, T) means of the other G - 1 groups.
        left_out = order((values.sum(axis=1, keepdims=True) - values) / (G - 1))
        sem: np.ndarray = np.sqrt((G - 1) / G * np.sum((left_out - left_out.mean(axis=0)) ** 2, axis=0))
        return p, sem

    def observed_order(self, name: str) -> np.ndarray:
        """The order of convergence that the three finest levels show at each time,
        shape (T,): ``log_r((f_0 - f_1)/(f_1 - f_2))`` for the levels' values f at
        steps shrinking by r (solved for p where the two ratios differ); 1 for SGD's
        weak order 1. NaN where undefined (equal levels, as at t = 0, or differences of
        opposite signs: the Monte Carlo noise dominates there). Per time it is noisy
        where the levels' differences are not well beyond their noise:
        ``observed_order_sem(name)`` gives its error bar.

        Raises
        ------
        ValueError
            Fewer than three levels.

        Warns
        -----
        RuntimeWarning
            Where it falls far below 1 beyond its noise (at some time ``p < 1/2`` and
            ``1 - p > 4 observed_order_sem``): the differences between the finest levels
            do not shrink in proportion to lr there, so the levels are not in the
            asymptotic range of the expansion in lr that the extrapolation assumes, and
            the limit and ``discretisation_error`` are not to be trusted at those times.
            The message names the worst time."""
        p, sem = self._orders(name)
        with np.errstate(invalid="ignore"):
            far = (p < 0.5) & (1 - p > ORDER_NOISE_THRESHOLD * sem)
        if far.any():
            k = int(np.argmax(np.where(far, (1 - p) / sem, -np.inf)))
            warnings.warn(
                f"observed_order({name!r}): the order falls to {p[k]:.2g} ± {sem[k]:.2g} at t = {self.t[k]:g} "
                f"({int(far.sum())} of {p.size} times below 1/2 beyond {ORDER_NOISE_THRESHOLD:g} of their "
                f"sems), where about 1 is expected: the differences between the finest levels lrs="
                f"{self.lrs[-3:]} do not shrink in proportion to lr there, so they are not in the asymptotic "
                f"range of the expansion in lr that the extrapolation assumes, and the limit and "
                f"discretisation_error of {name} are not to be trusted at those times; use smaller lrs",
                RuntimeWarning, stacklevel=2)
        return p

    def observed_order_sem(self, name: str) -> np.ndarray:
        """The Monte Carlo standard error of ``observed_order(name)``, shape (T,): the
        jackknife over the groups (the order of the means of all groups but one, for
        each group in turn). NaN where the order is, and for one group."""
        return self._orders(name)[1]

    def level_correlation(self, name: str) -> np.ndarray:
        """The correlation over groups between consecutive levels (coarser, finer) at each
        time, shape (levels - 1, T): close to 1 where the coupling makes the extrapolation
        precise; NaN where a level does not vary over the groups (t = 0)."""
        ladder = self.group_values(name)
        centred = ladder - ladder.mean(axis=1, keepdims=True)
        a, b = centred[:-1], centred[1:]
        with np.errstate(divide="ignore", invalid="ignore"):
            correlation: np.ndarray = (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
        return correlation

    def to_dataframe(self) -> pd.DataFrame:
        """A tidy pandas DataFrame: columns ``t``, ``observable``, ``value`` (the limit),
        ``sem`` (NaN for one group) and ``discretisation_error``, one row per recorded
        observable and time of the coarsest grid."""
        pd = _pandas("to_dataframe()")
        names = self.observables
        steps = self.t.size
        return pd.DataFrame({
            "t": np.tile(self.t, len(names)),
            "observable": np.repeat(names, steps),
            "value": np.concatenate([self.mean(n) for n in names]),
            "sem": np.concatenate([self.sem(n) if self.groups > 1 else np.full(steps, np.nan) for n in names]),
            "discretisation_error": np.concatenate([self.discretisation_error(n) for n in names]),
        })

    def _too_coarse(self) -> str | None:
        """Where the discretisation error exceeds the Monte Carlo error (|err| > 2 sem of
        the limit and > 3 sem of err, for some observable at some time): a message saying
        where, else None."""
        if self.groups < 2:
            return None
        worst: tuple[float, str, int, float, float] | None = None
        flagged = []
        for name in self.observables:
            changes = self._last_change(name)
            error, error_sem = changes.mean(axis=0), self._spread(changes)
            sem = self.sem(name)
            floor = 1e-9 * max(1.0, float(np.abs(self.mean(name)).max()))  # rounding of the weights
            bad = (np.abs(error) > 2 * sem + floor) & (np.abs(error) > 3 * error_sem + floor)
            if bad.any():
                flagged.append(name)
                score = np.where(bad, np.abs(error) / np.maximum(sem, floor), 0.0)
                k = int(np.argmax(score))
                if worst is None or score[k] > worst[0]:
                    worst = (float(score[k]), name, k, float(error[k]), float(sem[k]))
        if worst is None:
            return None
        _, name, k, worst_error, worst_sem = worst
        others = [n for n in flagged if n != name]
        also = f" (also {', '.join(others)})" if others else ""
        return (f"sgf: the discretisation error of {name} at t = {self.t[k]:g} ({worst_error:.3g}, the "
                f"change of the order-{self.order} extrapolation) exceeds the Monte Carlo error of the limit "
                f"({worst_sem:.3g}){also}: the ladder lrs={self.lrs} is too coarse for order {self.order}; use "
                f"smaller lrs or another (finer) level")

    def to_xarray(self) -> xr.Dataset:
        """An xarray Dataset (needs ``pip install 'dmft-sgd[xarray]'``): dims ``t`` (the
        coarsest grid) and ``lr`` (the ladder); each recorded observable's limit, its
        ``<name>_sem`` (two groups or more), ``<name>_discretisation_error`` and
        ``<name>_levels`` (each level on the coarsest grid, dims (lr, t)). ``attrs``:
        ``config`` (JSON), ``order``, ``samples``, ``groups``, ``seed``, ``kind`` and
        ``dmft_sgd_version``."""
        from . import _xarray

        return _xarray.sgf(self)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """One `.npz` file with every level's arrays; read it back with `dmft_sgd.load`
        (an equal SGFResult: the limit and its errors are computed from the levels)."""
        metas: list[dict[str, Any]] = []
        arrays: dict[str, np.ndarray] = {}
        for i, level in enumerate(self.levels):
            kind, meta, level_arrays = level._payload()
            metas.append({**meta, "kind": kind})
            arrays.update({f"level{i}.{name}": a for name, a in level_arrays.items()})
        meta = {"config": self.config.to_dict(), "lrs": list(self.lrs), "order": self.order, "levels": metas}
        return _io.write(path, "sgf", meta, arrays)

    def __repr__(self) -> str:
        return (f"SGFResult(lrs={self.lrs}, order={self.order}, samples={self.samples}, "
                f"groups={self.groups}, seed={self.seed}, steps={self.t.size}, config={self.config!r})")


def _network_levels(cfg: Config, rates: tuple[float, ...], samples: int, groups: int | None, seed: int,
                    threads: int | None, response: str,
                    progress: bool | ProgressCallback | None) -> tuple[NetworkDMFTResult, ...]:
    """The levels of a two-layer network's ladder: one network DMFT per level (the core's
    ladder rules), each with the same seed."""
    steps = _core.ladder_steps(cfg.to_dict(), lrs=list(rates))
    groups = 8 if groups is None else groups
    levels = []
    with reporter(progress, sum(steps), "SGF") as callback:
        done = 0
        for lr, level_steps in zip(rates, steps):
            level = cfg.replace(lr=lr, steps=level_steps)
            offset = done
            step_callback = None if callback is None else (lambda n, offset=offset: callback(offset + n))
            levels.append(solve_network_dmft(level, samples, groups, seed, threads, step_callback,
                                             response=response, keep_groups=False))
            done += level_steps
    return tuple(levels)


def _sgf_from_file(meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> SGFResult:
    levels = []
    for i, level_meta in enumerate(meta["levels"]):
        prefix = f"level{i}."
        mine = {name[len(prefix):]: a for name, a in arrays.items() if name.startswith(prefix)}
        levels.append(from_payload({"version": meta.get("version"), **level_meta}, mine, f"{where} (level {i})"))
    return SGFResult(config=Config.from_dict(meta["config"]), lrs=tuple(float(lr) for lr in meta["lrs"]),
                     order=int(meta["order"]), levels=tuple(levels))


READERS["sgf"] = _sgf_from_file


def _as_lrs(lrs: Any) -> tuple[float, ...]:
    if isinstance(lrs, (str, bytes)) or not isinstance(lrs, (Sequence, np.ndarray)):
        raise wrong_type("lrs", lrs, f"lrs must be a sequence of learning rates, got {lrs!r} ({type(lrs).__name__})")
    rates = []
    for i, lr in enumerate(lrs):
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
            raise wrong_type("lrs", lrs, f"lrs must hold real numbers, got {lr!r} ({type(lr).__name__}) at {i}")
        rates.append(float(lr))
    return tuple(rates)


def sgf(
    cfg: Config,
    *,
    lrs: Sequence[float] | None = None,
    order: int | None = None,
    samples: int = DEFAULTS["samples"],
    groups: int | None = DEFAULTS["groups"],
    seed: int = DEFAULTS["seed"],
    threads: int | None = None,
    response: str = DEFAULTS["response"],
    band: int = DEFAULTS["band"],
    response_samples: int | None = DEFAULTS["response_samples"],
    keep_kernels: bool = False,
    progress: bool | ProgressCallback | None = None,
) -> SGFResult:
    """The stochastic gradient flow of `cfg`: the limit ``lr -> 0`` of its DMFT at fixed
    persistence time ``tau``, batch fraction ``b`` and physical time ``t``.

    The DMFT at learning rate lr is the discrete-time dynamics; SGD with persistent
    mini-batches converges to a continuous-time process, the SGF, as ``lr -> 0`` at fixed
    ``tau`` and ``b``, with an error of order lr (weak order 1). This solves a ladder of
    learning rates ``lrs[0] > lrs[1] > ...`` in one coupled pass, every level with the
    same samples, static draws and batch chain (the finer chain's switches) and cavity
    innovations (the finer field's whitened ones), so that the levels of one group of
    samples share their randomness; then extrapolates each group's series, on the
    coarsest level's time grid, to ``lr = 0`` by Richardson extrapolation of order `order`
    (the weights of `richardson_weights` on the ``order + 1`` finest levels: for
    ``lr, lr/2, lr/4``, order 1 is ``2 f(lr/4) - f(lr/2)``, order 2
    ``(8 f(lr/4) - 6 f(lr/2) + f(lr))/3``); the limit is the mean of the groups'
    extrapolations and its error bar their spread over sqrt(groups). As the levels of a
    group are strongly correlated (0.98 for the test error of persistent SGD), the error
    bar of the limit is about that of the finest level alone, while a separate solve per
    level would multiply it by the weights' norm (sqrt(64 + 36 + 1)/3 = 3.3 for order 2).
    A two-layer network's ladder is such separate solves (`solve_dmft` of each level,
    same seed and static draws), with ``M`` and ``Q`` extrapolated too (theory.md 8.2).

    The extrapolation assumes that each observable is a smooth function of lr with an
    expansion ``f(0) + c_1 lr + c_2 lr^2 + ...`` at fixed t (the DMFT's discretisation is
    first order in lr); the finest levels must be in that asymptotic range.
    ``result.observed_order(name)`` checks it (about 1), and
    ``result.discretisation_error(name)`` estimates what is left. A `RuntimeWarning`
    says when that estimate exceeds the Monte Carlo error somewhere. See theory.md
    section 6.

    Parameters
    ----------
    cfg : Config
        The learning problem and its dynamics: persistent SGD (a `tau`) or full-batch GD
        (``batch=1``, whose limit is gradient flow), with a constant ``lr``;
        ``(cfg.steps - 1) * cfg.lr`` is the horizon of every level.
    lrs : sequence of float or None
        The ladder of learning rates, decreasing, each the one before divided by an
        integer >= 2, each dividing the horizon (level i has ``horizon / lrs[i] + 1``
        steps). None: ``(cfg.lr, cfg.lr/2, cfg.lr/4)``.
    order : int or None
        Order of the extrapolation, between 1 and ``len(lrs) - 1``; None: the highest,
        ``len(lrs) - 1``.
    samples, groups, seed, threads, response, band, response_samples, keep_kernels
        As for `solve_dmft` (every level uses them; ``keep_kernels`` defaults to False
        here). The error bars need ``groups >= 2`` (the default is 8).
    progress : bool, callable or None
        True shows a progress bar; a callable is called as ``progress(done, total)`` in
        the finest level's time steps.

    Returns
    -------
    SGFResult
        The limit ``result[name]`` and its standard error ``result.sem(name)`` of every
        recorded observable on the coarsest grid ``result.t``, the discretisation error
        estimate, and the levels themselves (``result.levels``, DMFTResult objects).

    Raises
    ------
    ValueError, TypeError
        A bad argument, named in the message, before any work: plain SGD with
        ``batch < 1`` (``tau=None``: its batch noise averages out as lr -> 0, there is no
        SGF at fixed b; give a ``tau``), a learning-rate schedule, bad `lrs` or `order`.
    DivergenceError
        Non-finite values at some level; use smaller lrs.

    Warns
    -----
    RuntimeWarning
        The discretisation error estimate exceeds the Monte Carlo error of the limit (for
        some observable at some time ``|err| > 2 sem`` and ``> 3`` times its own sem):
        the ladder is too coarse; the message says where.

    Examples
    --------
    >>> import dmft_sgd as ds
    >>> cfg = ds.Config(alpha=2.0, delta=0.5, lam=0.1, lr=0.2, batch=0.3, tau=1.0, steps=31)
    >>> res = ds.sgf(cfg, samples=2000, seed=0)        # lr = 0.2, 0.1, 0.05 up to t = 6
    >>> res.lrs, res.order, res.t.shape, [level.t.size for level in res.levels]
    ((0.2, 0.1, 0.05), 2, (31,), [31, 61, 121])
    >>> print(f"{res['test_error'][-1]:.3f} +- {res.sem('test_error')[-1]:.3f}")
    0.130 +- 0.002
    >>> err, err_sem = res.discretisation_error("test_error"), res.discretisation_error_sem("test_error")
    >>> bool(abs(err[-1]) < 3 * err_sem[-1])                 # below its own noise: fine enough
    True
    >>> res.level_correlation("test_error").shape            # (levels - 1, T)
    (2, 31)
    """
    cfg = as_config("cfg", cfg)
    if lrs is None:
        lr = cfg.lr[0] if isinstance(cfg.lr, tuple) else cfg.lr  # a schedule: the core refuses it
        lrs = tuple(lr / r for r in DEFAULT_RATIOS)
    rates = _as_lrs(lrs)
    order = len(rates) - 1 if order is None else as_int("order", order)
    if len(rates) >= 2 and not 1 <= order <= len(rates) - 1:
        raise invalid("order", order, f"order must be between 1 and len(lrs) - 1 = {len(rates) - 1} (each order needs "
                         f"one more level), got {order}")
    samples, seed, threads, groups, band, response_samples = _typed_options(
        samples, seed, threads, groups, band, keep_kernels, response_samples)
    if not isinstance(response, str):
        raise TypeError(f"response must be a str, got {response!r}")
    levels: tuple[DMFTResult, ...] | tuple[NetworkDMFTResult, ...]
    if is_network(cfg):
        levels = _network_levels(cfg, rates, samples, groups, seed, threads, response, progress)
    else:
        finest = cfg.steps
        if rates and rates[-1] > 0 and not isinstance(cfg.lr, tuple):
            finest = int(round((cfg.steps - 1) * cfg.lr / rates[-1])) + 1
        with reporter(progress, finest, "SGF") as callback:
            out = _core.solve_dmft_ladder(
                cfg.to_dict(), lrs=list(rates), samples=samples, groups=groups, seed=seed, threads=threads,
                response=response, band=band, response_samples=response_samples, keep_kernels=keep_kernels,
                keep_groups=False, progress=callback,
            )
        levels = tuple(
            _result(solution, cfg.replace(lr=lr, steps=solution.t.size), samples=samples, seed=seed,
                    method="single", response_samples=response_samples)
            for lr, solution in zip(rates, out))
    result = SGFResult(config=cfg, lrs=rates, order=order, levels=levels)
    message = result._too_coarse()
    if message is not None:
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    return result

