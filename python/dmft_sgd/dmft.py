"""The DMFT solver: the exact d -> infinity dynamics of SGD (theory.md section 3)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import _core
from ._checks import as_float, as_int, as_seed, as_threads
from .config import Config, as_config
from .results import DMFTResult, time_axis

METHODS = ("single", "iterate")


def solve_dmft(
    cfg: Config,
    samples: int = 20_000,
    seed: int = 0,
    threads: int | None = None,
    *,
    method: str = "single",
    response_samples: int | None = None,
    iterations: int = 50,
    damping: float = 0.5,
    tol: float = 1e-3,
    progress: Callable[[int, int], Any] | None = None,
) -> DMFTResult:
    """Solves the discrete-time DMFT of `cfg` by Monte Carlo over effective samples.

    Parameters
    ----------
    cfg : Config
    samples : int
        Number S of effective samples (even: they come in mirror pairs). Monte Carlo
        errors scale as 1/sqrt(S).
    seed : int
        Results are identical for the same seed whatever the number of threads.
    threads : int or None
        Worker threads; None uses all cores.
    method : "single" or "iterate"
        "single": one causal sweep in time (fast, default). "iterate": the damped
        fixed-point iteration of the published codes, re-sampling every iteration
        (a cross-check; ~`iterations` times slower).
    response_samples : int or None
        Samples (the first ones) carrying the exact tangent process for M_R, the costly
        part (O(S T^3)); None uses all samples.
    iterations, damping, tol : method "iterate" only
        At most `iterations` rounds; new kernels = damping * old + (1 - damping) * fresh;
        stop once the largest kernel change relative to the kernels' scale is < tol.
    progress : callable or None
        Called as ``progress(done, total)`` in time steps while the solve goes on.

    Raises
    ------
    ValueError, TypeError
        A bad argument, named in the message, before any work.
    DivergenceError
        Non-finite values (the message names the step); use a smaller lr.
    MemoryError
        The samples' histories would not fit in the available memory.
    KeyboardInterrupt
        Ctrl-C; the solver stops within one time step.
    """
    cfg = as_config("cfg", cfg)
    samples = as_int("samples", samples, 2)
    if samples % 2:
        raise ValueError(f"samples must be even (samples come in mirror pairs), got {samples}")
    seed, threads = as_seed(seed), as_threads(threads)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if response_samples is not None:
        response_samples = as_int("response_samples", response_samples, 2, samples)
    iterations = as_int("iterations", iterations, 1)
    damping, tol = as_float("damping", damping), as_float("tol", tol)
    total = cfg.steps * (iterations if method == "iterate" else 1)
    callback = None if progress is None else (lambda done: progress(done, total))
    out = _core.solve_dmft(
        cfg.resolved(), samples, seed, threads, method, response_samples, iterations, damping, tol, callback
    )
    return DMFTResult(
        config=cfg, samples=samples, seed=seed, method=method,
        response_samples=samples if response_samples is None else response_samples,
        t=time_axis(cfg), converged=bool(out.pop("converged")),
        **{name: np.asarray(value) for name, value in out.items()},
    )
