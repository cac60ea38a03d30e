"""The DMFT solver: the exact d -> infinity dynamics of SGD (theory.md section 3)."""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np

from . import _core
from ._checks import as_float, as_int, as_seed, as_threads
from ._errors import invalid, values_named, wrong_type
from ._progress import ProgressCallback, reporter
from .config import Config, as_config
from .network import NetworkDMFTResult, is_network, solve_network_dmft
from .results import DMFTResult

#: The defaults of the solver's options: Rust's (`DmftOptions::default()`, `Method::iterate()`).
DEFAULTS: dict[str, Any] = _core.dmft_defaults()
#: ``keep_groups=None`` keeps each group's C and R while groups * T^2 is at most this
#: (two matrices of float64 per group: at most 160 MB, e.g. 8 groups up to T = 1118);
#: the core's rule (``DmftOptions::default_keep_groups``), which applies it.
KEEP_GROUPS_ENTRIES: int = _core.KEEP_GROUPS_ENTRIES


def default_groups(cfg: Config, samples: int, groups: int | None, response_samples: int | None) -> int:
    """The number of groups a solve uses (the core's ``DmftOptions::groups_for``): `groups`,
    or 8 (4 beyond 4000 steps), never more than the pairs of (response) samples."""
    return _core.groups_for(cfg.to_dict(), samples=samples, groups=groups, response_samples=response_samples)


def solve_dmft(
    cfg: Config,
    samples: int = DEFAULTS["samples"],
    seed: int = DEFAULTS["seed"],
    threads: int | None = None,
    *,
    groups: int | None = DEFAULTS["groups"],
    response: str = DEFAULTS["response"],
    band: int = DEFAULTS["band"],
    keep_kernels: bool = DEFAULTS["keep_kernels"],
    method: str = DEFAULTS["method"],
    response_samples: int | None = DEFAULTS["response_samples"],
    iterations: int = DEFAULTS["iterations"],
    damping: float = DEFAULTS["damping"],
    tol: float = DEFAULTS["tol"],
    keep_groups: bool | None = None,
    progress: bool | ProgressCallback | None = None,
    target: Callable[[np.ndarray, np.ndarray], Any] | None = None,
) -> DMFTResult | NetworkDMFTResult:
    """Solves the discrete-time DMFT of `cfg` by Monte Carlo over effective samples.

    Parameters
    ----------
    cfg : Config
        The learning problem and its dynamics.
    samples : int
        Number S of effective samples (even: they come in mirror pairs). Monte Carlo
        errors scale as 1/sqrt(S).
    seed : int
        Results are identical for the same seed whatever the number of threads.
    threads : int or None
        Worker threads; None uses all cores.
    groups : int or None
        The samples are split into this many independent groups, each solved
        self-consistently; the result is their mean and ``result.sem(name)`` their spread
        over sqrt(groups) (theory.md section 4.4). None: 8, or 4 beyond 4000 steps, where
        the groups' O(T^3) weight sides dominate the cost (never more than the pairs);
        1 gives no error bars. ``result.groups`` records the number used.
    response : "auto", "tangent" or "probe"
        Estimator of the response kernel M_R (theory.md section 4.2). "tangent" is exact
        and costs b S T^3 / 6; "probe" computes the lags < `band` exactly and the rest
        with one random probe per sample, O(S T^2), unbiased, whose noise inflates the
        error bars (up to 2x, and 4-12x for three clusters with the door); "auto" uses
        "tangent" while its work b S_r T^3 / 6 is at most 1.5e11 multiply-adds (S_r the
        response samples; a few seconds: at S = 20000, T <= 355 for b = 1 and 531 for
        b = 0.3) and "probe" beyond. ``result.response`` records the choice.
    band : int
        Lags computed exactly by the "probe" estimator (>= 1).
    keep_kernels : bool
        False drops M_C, M_R and mu and their standard errors from the result (four
        T x T matrices less); C and R and their standard errors are always kept.
    method : "single" or "iterate"
        "single": one causal sweep in time (fast, default). "iterate": the damped
        fixed-point iteration of the published codes, re-sampling every iteration
        (a cross-check; ~`iterations` times slower).
    response_samples : int or None
        Samples (the first ones of each group) carrying the response process; None uses
        all samples.
    iterations, damping, tol : method "iterate" only
        At most `iterations` rounds; new kernels = damping * old + (1 - damping) * fresh;
        stop once the largest kernel change relative to the kernels' scale is < tol, or
        no larger than the change the Monte Carlo noise alone makes (estimated from the
        groups; ``result.change_noise``), below which more rounds cannot push it. A run
        that stops unconverged warns (``RuntimeWarning``) and has ``converged=False``.
    keep_groups : bool or None
        Keep each group's C and R (``result.C_groups``, ``result.R_groups``, shape
        (groups, T, T)): what `fdt` needs for the error bars of its curves and of the
        effective temperature. They cost groups x 2 x T^2 x 8 bytes (128 MB at T = 1000
        with 8 groups). None (the default) keeps them for two groups or more while
        groups x T^2 <= 1e7 (at most 160 MB: 8 groups up to T = 1118), not beyond. For a
        network, each group's ``C`` and ``R`` blocks (shape (groups, T, K, T, K)), kept
        by default while 2 groups (T K)^2 <= 1e7.
    progress : bool, callable or None
        True shows a progress bar with ETA (tqdm, terminal or notebook); a callable is
        called as ``progress(done, total)`` in time steps while the solve goes on.
    target : callable or None
        A teacher the built-in ones cannot express, ``target(h_star, eps) -> y`` (as for
        `simulate`); the solve is then a network's (`NetworkDMFTResult`).

    Returns
    -------
    DMFTResult or NetworkDMFTResult
        The observables of shape (T,) with their Monte Carlo errors ``sem(name)``, the
        two-time matrices C, R (and M_C, M_R, mu unless ``keep_kernels=False``) of shape
        (T, T), with their standard errors too (``sem("C")``; groups >= 2), each group's
        observables (``group_values(name)``) and, with `keep_groups`, each group's C
        and R.

    Raises
    ------
    InvalidParameterError, TypeError
        A bad argument, named in the message and in the ``parameter`` field, before any
        work (InvalidParameterError is a ValueError).
    DivergenceError
        The run blew up: an order parameter beyond its bound (``q`` or ``m^2`` past 1e8
        times the problem's scale, theory.md section 4.6) or non-finite values; the
        fields ``step``, ``observable``, ``value``, ``bound``, ``lr`` say where. Use a
        smaller lr.
    MemoryError
        The run would not fit in the available memory (the message gives the estimate).
    KeyboardInterrupt
        Ctrl-C; the solver stops within one time step.

    Examples
    --------
    >>> import dmft_sgd as ds
    >>> cfg = ds.Config(alpha=2.0, delta=0.5, lam=0.1, lr=0.2, batch=0.3, steps=20)
    >>> res = ds.solve_dmft(cfg, samples=400, seed=0)
    >>> res.test_error.shape, res.C.shape, res.groups, res.response
    ((20,), (20, 20), 8, 'tangent')
    >>> print(f"{res.test_error[-1]:.2f} +- {res.sem('test_error')[-1]:.3f}")
    0.15 +- 0.003
    >>> res.sem("C").shape, res.group_values("q").shape, res.C_groups.shape
    ((20, 20), (8, 20), (8, 20, 20))

    The same seed gives the same numbers, whatever the number of threads:

    >>> bool((ds.solve_dmft(cfg, samples=400, seed=0, threads=1).C == res.C).all())
    True
    """
    # Types here (the core cannot name a wrong type); values and ranges are checked once,
    # by the core, with messages naming the parameter.
    cfg = as_config("cfg", cfg)
    if target is not None and not callable(target):
        raise wrong_type("target", target, f"target must be a callable target(h_star, eps) -> y, got {target!r}")
    if keep_groups is not None and not isinstance(keep_groups, bool):
        raise wrong_type("keep_groups", keep_groups, f"keep_groups must be a bool or None, got {keep_groups!r}")
    if is_network(cfg) or target is not None:  # a committee or a multi-index teacher (theory.md 8.2)
        return _solve_network(cfg, samples, seed, threads, groups, progress, method, response, target, keep_groups)
    samples, seed, threads, groups, band, response_samples = _typed_options(
        samples, seed, threads, groups, band, keep_kernels, response_samples)
    iterations = as_int("iterations", iterations, 0)
    damping, tol = as_float("damping", damping), as_float("tol", tol)
    total = cfg.steps * (iterations if method == "iterate" else 1)
    def costs() -> list[float]:  # the core's cost of each step, once per round
        per_step = _core.step_costs(cfg.to_dict(), samples=samples, groups=groups,
                                    response_samples=response_samples, response=response, band=band)
        return list(per_step) * (total // cfg.steps)

    with reporter(progress, total, "DMFT", costs=costs) as callback, values_named(
            samples=samples, groups=groups, band=band, response_samples=response_samples,
            method=method, response=response, iterations=iterations, damping=damping, tol=tol):
        out = _core.solve_dmft(
            cfg.to_dict(), samples=samples, groups=groups, seed=seed, threads=threads,
            method=method, response=response, band=band, response_samples=response_samples,
            keep_kernels=keep_kernels, iterations=iterations, damping=damping, tol=tol,
            keep_groups=keep_groups, progress=callback,
        )
    if method == "iterate" and not out.converged:
        noise = f", Monte Carlo noise {out.change_noise[-1]:.3g}" if out.change_noise.size else ""
        warnings.warn(
            f"solve_dmft(method='iterate') stopped unconverged after {out.changes.size} "
            f"iterations: last kernel change {out.changes[-1]:.3g} (tol {tol:g}{noise}); "
            f"raise iterations, or use method='single'", RuntimeWarning, stacklevel=2)
    return _result(out, cfg, samples=samples, seed=seed, method=method, response_samples=response_samples)


def _solve_network(cfg: Config, samples: Any, seed: Any, threads: Any, groups: Any, progress: Any,
                   method: str, response: str, target: Any, keep_groups: bool | None) -> NetworkDMFTResult:
    """The DMFT of a network: the single pass with the exact response (the tangent, or
    for a kinked unit or loss the integration by parts), in `groups` groups (default 8)."""
    if method != "single":
        raise invalid("method", method, "the DMFT of networks is the single pass (method='single')")
    samples, seed, threads = as_int("samples", samples, 0), as_seed(seed), as_threads(threads)
    groups = 8 if groups is None else as_int("groups", groups, 1)
    with reporter(progress, cfg.steps, "DMFT") as callback, values_named(samples=samples, groups=groups):
        return solve_network_dmft(cfg, samples, groups, seed, threads, callback, target, response, keep_groups)


def _typed_options(samples: Any, seed: Any, threads: Any, groups: Any, band: Any, keep_kernels: Any,
                   response_samples: Any) -> tuple[int, int, int | None, int | None, int, int | None]:
    """The solver's options with their types checked (`solve_dmft`'s and `sgf`'s):
    ``(samples, seed, threads, groups, band, response_samples)``."""
    if not isinstance(keep_kernels, bool):
        raise TypeError(f"keep_kernels must be a bool, got {keep_kernels!r}")
    return (
        as_int("samples", samples, 0), as_seed(seed), as_threads(threads),
        None if groups is None else as_int("groups", groups, 0), as_int("band", band, 0),
        None if response_samples is None else as_int("response_samples", response_samples, 0),
    )


def _result(out: _core.DmftSolution, cfg: Config, *, samples: int, seed: int, method: str,
            response_samples: int | None) -> DMFTResult:
    """The DMFTResult of a core solution (`_core.solve_dmft`'s, or one level of
    `_core.solve_dmft_ladder`'s) solved for `cfg` with these options."""
    sems = {} if out.sem is None else {f"{name}_sem": a for name, a in out.sem.items()}
    if out.two_time_sem is not None:
        sems.update({f"{name}_sem": a for name, a in out.two_time_sem.items()})
    group_observables = {name: a for name, a in out.group_observables.items() if a is not None}
    return DMFTResult(
        config=cfg, samples=samples, seed=seed, method=method, groups=out.groups,
        response=out.response, band=out.band,
        response_samples=samples if response_samples is None else response_samples,
        t=out.t, C=out.C, R=out.R, M_C=out.M_C, M_R=out.M_R, mu=out.mu,
        changes=out.changes, change_noise=out.change_noise, converged=out.converged,
        C_groups=out.C_groups, R_groups=out.R_groups, group_observables=group_observables,
        **out.observables, **sems,
    )
