"""Finite-d SGD: the multithreaded ensemble and single runs on user data."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import _core
from ._checks import (
    as_batch_mask,
    as_float,
    as_float_array,
    as_int,
    as_seed,
    as_test_set,
    as_threads,
)
from ._errors import invalid, values_named, wrong_type
from ._progress import ProgressCallback, reporter
from .config import Config, as_config
from .network import (
    NetworkResult,
    NetworkTrajectoryResult,
    is_network,
    network_trajectory,
    simulate_network,
)
from .results import SimulationResult, TrajectoryResult


def simulate(
    cfg: Config,
    d: int = 1000,
    replicas: int = 16,
    seed: int = 0,
    threads: int | None = None,
    progress: bool | ProgressCallback | None = None,
    target: Callable[[np.ndarray, np.ndarray], Any] | None = None,
    record_two_time: bool = False,
) -> SimulationResult | NetworkResult:
    """Runs `replicas` independent finite-d SGD runs of the model of `cfg` in parallel.

    Each replica draws its own teacher v*, data set (n = round(alpha d) samples, stored as
    float32, sums in float64), initial weights and mini-batch chain from stream r of
    `seed`, then runs `cfg.steps` SGD steps, recording m, q, training loss and error and
    the closed-form test error at every step. With `record_two_time` it also records the
    two-time functions the DMFT predicts (``DMFTResult.C``, ``.R``), per replica: the
    correlation ``C[k, l] = w(k)·w(l)/d - m(k) m(l)`` and the response R by a twin run on
    the same data, batches and noise with a tiny random field (theory.md section 4.7);
    for a network the DMFT's blocks (``NetworkDMFTResult.C``, ``.R``), ``C[t, k, s, l] =
    w_k(t)·w_l(s)/d - sum_j M[t, k, j] M[s, l, j]`` and R with the field on every unit
    (theory.md section 8).

    Parameters
    ----------
    cfg : Config
        The learning problem and its dynamics.
    d : int
        Dimension (>= 1).
    replicas : int
        Number of independent replicas (>= 1; >= 2 for `sem`).
    seed : int
        Results are identical for the same seed whatever the number of threads.
    threads : int or None
        Worker threads; None uses all cores.
    progress : bool, callable or None
        True shows a progress bar with ETA (tqdm, terminal or notebook); a callable is
        called as ``progress(done, total)`` in replica-steps while the run goes on (the
        bar counts steps; the twin runs of `record_two_time` count too).
    target : callable or None
        A teacher the built-in ones cannot express: ``target(h_star, eps) -> y``, called
        with the teacher's fields ``h_star`` of shape (n, K*) (K* = ``teacher_hidden``
        orthogonal directions) and label noises ``eps`` (n,) ~ N(0, 1), returning the n
        labels (vectorised over samples: it is called once per replica for the data
        and once for the test draws). Needs ``data="teacher"`` with ``teacher="linear"``
        (real labels) or ``"sign"`` (it must return ±1); the run is then a network's
        (`NetworkResult`), with ``teacher_activation`` unused.
    record_two_time : bool
        Also record ``C`` and ``R``, shape (replicas, T, T): about twice the time (a twin
        run per replica) plus T^2 d per replica, and 2 T d numbers per running replica
        and 2 replicas T^2 in the result of memory. R is unbiased up to O(1e-6); its
        noise per replica is about ``sqrt(sum_l' R(k, l')^2 / d)`` (``sqrt(k/d)`` at
        most, for R of order 1), so ``sem("R")`` over replicas is its error bar (use 16
        replicas or more: the ``sem`` of fewer is itself noisy). For a network, the
        blocks of shape (replicas, T, K, T, K), T K in place of T in those costs.

    Returns
    -------
    SimulationResult or NetworkResult
        ``t`` of shape (T,) and every observable of shape (replicas, T); ``mean(name)``
        and ``sem(name)`` give the ensemble mean and its standard error (also of ``"C"``
        and ``"R"``, which are None unless recorded). For a two-layer
        network (``hidden > 1``, a ``second_layer``, ``teacher_hidden > 1`` or a
        ``teacher_activation``; theory.md section 8) a `NetworkResult`, whose order
        parameters are ``M`` (replicas, T, K, K*) and ``Q`` (replicas, T, K, K).

    Raises
    ------
    ValueError, TypeError
        A bad argument, named in the message, before any work.
    DivergenceError
        The run blew up: ``q`` or ``m^2`` beyond 1e8 times the problem's scale
        (theory.md section 4.6) or non-finite values; the fields ``run`` (which
        replica), ``step``, ``observable``, ``value``, ``bound``, ``lr`` say where. Use a
        smaller lr.
    MemoryError
        The data (and with `record_two_time` the history of w and C, R) would not fit
        in the available memory.
    KeyboardInterrupt
        Ctrl-C; the workers stop within one step.

    Examples
    --------
    >>> import dmft_sgd as ds
    >>> cfg = ds.Config(alpha=2.0, delta=0.5, lam=0.1, lr=0.2, batch=0.3, steps=20)
    >>> sim = ds.simulate(cfg, d=100, replicas=4, seed=0)
    >>> sim.t.shape, sim.test_error.shape
    ((20,), (4, 20))
    >>> print(f"{sim.mean('test_error')[-1]:.2f} +- {sim.sem('test_error')[-1]:.3f}")
    0.16 +- 0.006
    >>> two = ds.simulate(cfg, d=100, replicas=4, seed=0, record_two_time=True)
    >>> two.C.shape, bool((two.C[:, 5, 5] == two.q[:, 5]).all())
    ((4, 20, 20), True)
    >>> print(f"R(t + dt, t) = {two.mean('R')[1, 0]:.2f} +- {two.sem('R')[1, 0]:.2f}")  # 1 in the DMFT
    R(t + dt, t) = 1.04 +- 0.05
    >>> net = ds.simulate(cfg.replace(hidden=2, activation="erf"), d=100, replicas=4, record_two_time=True)
    >>> net.C.shape  # (replicas, T, K, T, K): C(t, t) + M M^T = Q
    (4, 20, 2, 20, 2)
    """
    cfg = as_config("cfg", cfg)
    d = as_int("d", d, 1)
    replicas = as_int("replicas", replicas, 1)
    seed, threads = as_seed(seed), as_threads(threads)
    if target is not None and not callable(target):
        raise wrong_type("target", target, f"target must be a callable target(h_star, eps) -> y, got {target!r}")
    if not isinstance(record_two_time, bool):
        raise wrong_type("record_two_time", record_two_time,
                         f"record_two_time must be a bool, got {record_two_time!r}")
    runs = replicas * (2 if record_two_time else 1)
    if is_network(cfg) or target is not None:  # a committee or a multi-index teacher (theory.md section 8)
        with reporter(progress, runs * cfg.steps, "SGD", per=runs) as callback, values_named(d=d):
            return simulate_network(cfg, d, replicas, seed, threads, callback, target, record_two_time)
    with reporter(progress, runs * cfg.steps, "SGD", per=runs) as callback, values_named(d=d):
        out = _core.simulate(cfg.to_dict(), d=d, replicas=replicas, seed=seed, threads=threads,
                             progress=callback, record_two_time=record_two_time)
    return SimulationResult(config=cfg, d=d, replicas=replicas, seed=seed, t=out.t, **out.observables,
                            C=out.C, R=out.R)


def sgd_trajectory(
    X: Any,
    y: Any,
    v_star: Any,
    w0: Any,
    cfg: Config,
    seed: int = 0,
    batches: Any = None,
    langevin_noise: Any = None,
    X_test: Any = None,
    y_test: Any = None,
) -> TrajectoryResult | NetworkTrajectoryResult:
    """Runs the SGD recursion of `cfg` on a data set you supply (all float64), of one unit
    or of a committee.

    A committee (theory.md section 8: ``o = sum_k a_k sigma(h_k)``, K = ``cfg.hidden``
    units, second layer ``cfg.second_layer``) runs where ``cfg.hidden > 1`` or `w0` is
    2-D, with `w0` of shape (K, d) and `v_star` of shape (K*, d) or (d,); it returns a
    `NetworkTrajectoryResult` with the order parameters M and Q.

    The data are yours, so `cfg`'s data model (``data``, ``clusters``, ``delta``,
    ``rho``, ``teacher``, ``noise``, ``alpha``; for a committee ``teacher_hidden`` and
    ``teacher_activation``) is ignored: n and d come from `X`, the
    errors are recorded where every label is ±1, and the test loss and error are measured
    on the test set `X_test`, `y_test` at every step, or not at all (None) without one:
    the model's formulas in (m, q) describe the config's data, not yours. ``loss=None``
    still resolves by the config's data model (logistic for the default mixture): pass
    ``loss="square"`` for real-valued labels.

    Parameters
    ----------
    X : array (n, d)
        Samples as rows.
    y : array (n,)
        Labels (±1 for classification, real numbers for regression; a loss that needs
        labels ±1 refuses real ones, naming `y`).
    v_star : array (d,), or (K*, d) for a committee
        Teacher direction, normalised to |v_star|^2 = d; defines m = w·v*/d. For a
        committee the directions v*_j as rows, each normalised so, defining
        M[k, j] = w_k·v*_j/d.
    w0 : array (d,), or (K, d) for a committee
        Initial weights (a committee: w_k(0) as rows, K = ``cfg.hidden``).
    cfg : Config
        Loss, output, ridge, learning rate, batch chain and number of steps.
    seed : int
        Seed of the mini-batch chain (`minibatch_chain(n, cfg, seed)` returns it) and, at
        a positive temperature, of the Langevin increments.
    batches : bool array (steps, n) or None
        An explicit batch mask s_mu(k), used instead of the random chain.
    langevin_noise : float array (steps, d), (steps, K, d) for a committee, or None
        Explicit Langevin increments xi_k ~ N(0, I_d) (row k moves w_k to w_{k+1}; the
        last row is unused; a committee's ``[t, k]`` moves unit k), used instead of drawn
        ones when ``cfg.temperature > 0``.
    X_test, y_test : arrays (n_test, d) and (n_test,), or None
        A held-out set: ``test_loss`` (and, for labels ±1, ``test_error``) are measured
        on it at every step. Both or neither.

    Returns
    -------
    TrajectoryResult or NetworkTrajectoryResult
        t and every observable of shape (steps,), and the weights w at the last step. The
        test observables are measured on the test set (None without one); the
        classification errors are None unless every label is ±1. A committee's result has
        ``M`` (steps, K, K*), ``Q`` (steps, K, K) and the weights ``W`` (K, d) instead of
        m, q and w.

    Raises
    ------
    InvalidParameterError, TypeError
        A bad argument (shapes that do not match, labels a loss refuses), named in the
        message and the ``parameter`` field, before any work (InvalidParameterError is a
        ValueError).
    DivergenceError
        The run blew up: ``q`` or ``m^2`` beyond 1e8 times the problem's scale
        (theory.md section 4.6) or non-finite values; the fields ``run`` (which
        replica), ``step``, ``observable``, ``value``, ``bound``, ``lr`` say where. Use a
        smaller lr.

    Examples
    --------
    A perceptron teacher's labels, learnt by SGD with half the samples in each batch:

    >>> import numpy as np
    >>> import dmft_sgd as ds
    >>> rng = np.random.default_rng(0)
    >>> n, d = 60, 30
    >>> v_star = np.ones(d)
    >>> X = rng.standard_normal((n, d))
    >>> y = np.sign(X @ v_star / np.sqrt(d))
    >>> cfg = ds.Config(lr=0.1, batch=0.5, steps=10)
    >>> run = ds.sgd_trajectory(X, y, v_star, np.zeros(d), cfg, seed=0)
    >>> run.m.shape, run.w.shape, run.test_error is None   # no test set given
    ((10,), (30,), True)
    >>> print(f"m = {run.m[-1]:.3f}, training error {run.train_error[-1]:.3f}")
    m = 0.344, training error 0.050

    A committee of K = 2 erf units on the labels of a teacher with K* = 2 directions:

    >>> v2 = np.sqrt(d) * np.linalg.qr(rng.standard_normal((d, 2)))[0].T   # rows v*_j
    >>> y2 = np.tanh(X @ v2.T / np.sqrt(d)).mean(axis=1)
    >>> net = ds.Config(hidden=2, activation="erf", loss="square", lr=0.5, steps=20)
    >>> run2 = ds.sgd_trajectory(X, y2, v2, 0.1 * rng.standard_normal((2, d)), net)
    >>> run2.M.shape, run2.Q.shape, run2.W.shape      # (T, K, K*), (T, K, K), (K, d)
    ((20, 2, 2), (20, 2, 2), (2, 30))
    >>> print(f"training loss {run2.train_loss[0]:.3f} -> {run2.train_loss[-1]:.3f}")
    training loss 0.074 -> 0.004
    """
    cfg = as_config("cfg", cfg)
    if cfg.hidden > 1 or np.ndim(w0) == 2:  # a committee (theory.md section 8)
        return network_trajectory(cfg, X, y, v_star, w0, seed, batches, langevin_noise, X_test, y_test)
    X = as_float_array("X", X, 2)
    y = as_float_array("y", y, 1)
    v_star = as_float_array("v_star", v_star, 1)
    w0 = as_float_array("w0", w0, 1)
    seed = as_seed(seed)
    n, d = y.shape[0], v_star.shape[0]
    if X.size == n * d and X.shape != (n, d):  # transposed, say: the core sees only the number of entries
        raise invalid("X", None, f"X must have shape (n, d) = ({n}, {d}) to match y and v_star, got {X.shape}")
    batches = as_batch_mask(batches, cfg.steps, n)
    if langevin_noise is not None:
        langevin_noise = as_float_array("langevin_noise", langevin_noise, 2)
        if langevin_noise.shape != (cfg.steps, d):
            raise invalid("langevin_noise", None, f"langevin_noise must have shape (steps, d) = ({cfg.steps}, "
                          f"{d}), got {langevin_noise.shape}")
    X_test, y_test = as_test_set(X_test, y_test, X.shape[1])
    out = _core.sgd_trajectory(cfg.to_dict(), X, y, v_star, w0, seed=seed, batches=batches,
                               langevin_noise=langevin_noise, x_test=X_test, y_test=y_test)
    return TrajectoryResult(config=cfg, t=out.t, w=out.w, **out.observables)


def minibatch_chain(n: int, cfg: Config, seed: int = 0) -> np.ndarray:
    """The (steps, n) boolean mask s_mu(k) that `sgd_trajectory` draws with this seed.

    Parameters
    ----------
    n : int
        Number of samples (>= 1).
    cfg : Config
        Its ``batch``, ``tau``, ``lr`` and ``steps`` define the chain.
    seed : int
        The seed given to `sgd_trajectory`.

    Returns
    -------
    ndarray of bool, shape (steps, n)
        Row k: which samples are in the batch at step k.

    Examples
    --------
    >>> import dmft_sgd as ds
    >>> ds.minibatch_chain(5, ds.Config(batch=0.4, steps=3), seed=0)
    array([[False, False, False,  True, False],
           [ True, False, False, False, False],
           [False,  True, False, False,  True]])
    """
    cfg = as_config("cfg", cfg)
    return _core.minibatch_chain(cfg.to_dict(), n=as_int("n", n, 1), seed=as_seed(seed))


def test_observables(cfg: Config, m: float, q: float) -> dict[str, float | None]:
    """The test loss and error of `cfg`'s data model at the order parameters (m, q)
    (theory.md section 2): what the DMFT and `simulate` record at every step, e.g. to
    evaluate a state of your own. ``test_error`` is None unless labels are ±1.

    Parameters
    ----------
    cfg : Config
        The data model, loss and output.
    m : float
        The overlap w·v*/d.
    q : float
        |w|^2/d - m^2 (>= 0).

    Returns
    -------
    dict
        ``{"test_loss": float, "test_error": float or None}``.

    Examples
    --------
    >>> import dmft_sgd as ds
    >>> out = ds.test_observables(ds.Config(), m=1.0, q=0.5)
    >>> print(f"{out['test_loss']:.4f} {out['test_error']:.4f}")
    0.3843 0.1241
    >>> out = ds.test_observables(ds.Config(data="teacher", teacher="linear"), m=1.0, q=0.5)
    >>> round(out["test_loss"], 6), out["test_error"]     # a regression teacher: no error
    (0.25, None)
    """
    cfg = as_config("cfg", cfg)
    loss, error = _core.test_observables(cfg.to_dict(), m=as_float("m", m), q=as_float("q", q))
    return {"test_loss": loss, "test_error": error}


test_observables.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
