"""Two-layer networks (theory.md section 8): a committee student ``o = sum_k a_k
sigma(h_k)`` learning the mixture or a teacher with K* directions. What `simulate`
(`NetworkResult`) and `solve_dmft` (`NetworkDMFTResult`) return for a config with ``hidden
> 1``, a ``second_layer``, ``teacher_hidden > 1`` or a ``teacher_activation``, and what
`sgd_trajectory` returns for a committee on your data (`NetworkTrajectoryResult`)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _core, _io
from ._checks import as_batch_mask, as_float_array, as_seed, as_test_set
from ._errors import invalid
from .config import Config
from .results import READERS, _pandas, _sem_uncertainty

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

#: The order parameters of a network: ``M`` (replicas, T, K, K*) the overlaps
#: w_k.w*_j/d, ``Q`` (replicas, T, K, K) the Gram matrix w_k.w_l/d.
ORDER_PARAMETERS = ("M", "Q")
#: The observables of shape (replicas, T), as for one unit (m and q are M and Q here).
NETWORK_OBSERVABLES = ("train_loss", "test_loss", "train_error", "test_error")
#: The DMFT's two-time blocks, kept per group: ``C`` and ``R`` (groups, T, K, T, K),
#: ``C[g, t, k, s, l] = C(t,s)_{kl}``.
TWO_TIME = ("C", "R")
#: Monte Carlo draws per replica of the test loss and error (the core's ``TEST_DRAWS``).
TEST_DRAWS = 4096


def is_network(cfg: Config) -> bool:
    """Whether `cfg` is a two-layer network: a committee student (``hidden > 1`` or a
    ``second_layer`` other than ``[1]``) or a teacher with several units or a non-linear
    unit."""
    return (cfg.hidden > 1 or (cfg.second_layer is not None and tuple(cfg.second_layer) != (1.0,))
            or cfg.teacher_hidden > 1 or cfg.teacher_activation != "linear")


class _NetworkArrays:
    """What both network results share: `M`, `Q` and the observables with one row per
    independent run (a replica, or a group of effective samples), their means and
    standard errors over those rows, tables and files."""

    config: Config
    t: np.ndarray
    M: np.ndarray
    Q: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray
    train_error: np.ndarray | None
    test_error: np.ndarray | None
    C: np.ndarray | None
    R: np.ndarray | None

    @property
    def _runs(self) -> int:
        """The number of independent rows (replicas or groups)."""
        return int(self.M.shape[0])

    @property
    def hidden(self) -> int:
        """The student's hidden units K."""
        return int(self.M.shape[2])

    @property
    def teacher_units(self) -> int:
        """The teacher's directions K* (1 for the mixture)."""
        return int(self.M.shape[3])

    @property
    def recorded(self) -> tuple[str, ...]:
        """The names this result holds: ``M``, ``Q`` and the observables (the errors only
        for labels ±1)."""
        return (*ORDER_PARAMETERS,
                *(o for o in (*NETWORK_OBSERVABLES, *TWO_TIME) if getattr(self, o) is not None))

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.recorded:
            raise KeyError(f"{name!r}: a network result holds {self.recorded}")
        values: np.ndarray = getattr(self, name)
        return values

    def group_values(self, name: str) -> np.ndarray:
        """Each run's (replica's or group's) values of `name`, the rows that ``mean``
        averages: (runs, T) for an observable, (runs, T, K, K*) for ``M``, (runs, T, K, K)
        for ``Q``."""
        return self[name]

    def mean(self, name: str) -> np.ndarray:
        """Average of `name` over the runs (replicas or groups): (T,) for an
        observable, (T, K, K*) for ``M``, (T, K, K) for ``Q``."""
        mean: np.ndarray = self[name].mean(axis=0)
        return mean

    @property
    def sem_uncertainty(self) -> float:
        """The relative uncertainty of every ``sem``: 1/sqrt(2 (runs - 1))."""
        return _sem_uncertainty(self._runs)

    def sem(self, name: str) -> np.ndarray:
        """Standard error of `mean(name)`: std over the runs (ddof=1) / sqrt(runs)."""
        if self._runs < 2:
            raise ValueError("sem needs two runs or more (replicas or groups)")
        sem: np.ndarray = self[name].std(axis=0, ddof=1) / np.sqrt(self._runs)
        return sem

    def to_xarray(self) -> xr.Dataset:
        """An xarray Dataset (needs ``pip install 'dmft-sgd[xarray]'``): ``M`` with dims
        (run, t, unit, teacher_unit), ``Q`` with (run, t, unit, unit_b), each observable
        with (run, t), a run being a replica of the simulation or a group of the DMFT; every
        one's mean ``<name>_mean`` and, for two runs or more, its standard error
        ``<name>_sem``. ``attrs``: ``config`` (JSON), the run's sizes and seed, ``kind`` and
        ``dmft_sgd_version``."""
        from . import _xarray

        xr_ = _xarray._xr()
        dims = {"M": ("unit", "teacher_unit"), "Q": ("unit", "unit_b"), "C": ("unit", "t_prime", "unit_b"),
                "R": ("unit", "t_prime", "unit_b")}
        variables: dict[str, Any] = {}
        for name in self.recorded:
            extra = dims.get(name, ())
            variables[name] = (("run", "t", *extra), self[name])
            variables[f"{name}_mean"] = (("t", *extra), self.mean(name))
            if self._runs > 1:
                variables[f"{name}_sem"] = (("t", *extra), self.sem(name))
        coords = {"run": np.arange(self._runs), "t": self.t, "t_prime": self.t, "unit": np.arange(self.hidden),
                  "unit_b": np.arange(self.hidden), "teacher_unit": np.arange(self.teacher_units)}
        kind, meta, _ = self._payload()
        sizes = {k: v for k, v in meta.items() if k != "config"}
        attrs = _xarray._attrs(kind, self.config, **sizes)
        dataset: xr.Dataset = xr_.Dataset(variables, coords=coords, attrs=attrs)
        return dataset

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes one `.npz` file (arrays + config); read it back with `dmft_sgd.load`."""
        return _io.write(path, *self._payload())

    def _payload(self) -> tuple[str, dict[str, Any], dict[str, np.ndarray]]:
        """(kind, header, arrays) of the file: each result's own."""
        raise NotImplementedError

    def to_dataframe(self) -> pd.DataFrame:
        """A tidy pandas DataFrame: ``t``, ``observable`` (``M[k,j]``, ``Q[k,l]`` or an
        observable's name), ``value`` (the replica mean) and ``sem`` (NaN for one replica)."""
        pd = _pandas("to_dataframe()")
        rows = []
        for name in (n for n in self.recorded if n not in TWO_TIME):  # C, R: to_xarray
            mean = self.mean(name)
            sem = self.sem(name) if self._runs > 1 else np.full_like(mean, np.nan)
            if mean.ndim == 1:
                rows.append(pd.DataFrame({"t": self.t, "observable": name, "value": mean, "sem": sem}))
                continue
            for index in np.ndindex(*mean.shape[1:]):
                label = f"{name}[{','.join(str(i) for i in index)}]"
                at = (slice(None),) + tuple(index)
                rows.append(pd.DataFrame({"t": self.t, "observable": label, "value": mean[at], "sem": sem[at]}))
        return pd.concat(rows, ignore_index=True)


@dataclasses.dataclass(frozen=True, eq=False)
class NetworkResult(_NetworkArrays):
    """A finite-d ensemble of two-layer networks: `t` (T,), the order parameters ``M``
    (replicas, T, K, K*) and ``Q`` (replicas, T, K, K), and each observable (replicas, T).

    What `simulate` returns for a network config. ``mean(name)`` and ``sem(name)`` give
    the replica average and its standard error of any of them (``"M"``, ``"Q"``,
    ``"test_loss"``, ...); ``result["M"]`` is the array. The test loss and error come from
    the exact Gaussian law of the fields given M and Q, by Monte Carlo over
    ``TEST_DRAWS`` draws fixed per replica: their error is in the spread over replicas.

    Attributes
    ----------
    config : Config
        The settings of the run.
    d, replicas, seed : int
        The dimension, the number of independent runs and the seed.
    t : ndarray (T,)
        The times t_k.
    M : ndarray (replicas, T, K, K*)
        Overlaps ``w_k . w*_j / d`` of the student's units with the teacher's directions
        (the mixture: K* = 1, ``v*``).
    Q : ndarray (replicas, T, K, K)
        Gram matrix ``w_k . w_l / d`` of the student's units.
    train_loss, test_loss : ndarray (replicas, T)
        Mean training loss; the expected loss on a fresh sample.
    train_error, test_error : ndarray (replicas, T) or None
        Classification errors (``y o <= 0``); None where the labels are not ±1.
    C, R : ndarray (replicas, T, K, T, K) or None
        With ``record_two_time=True``, each replica's correlation ``C(t,s)_{kl} =
        w_k(t)·w_l(s)/d - sum_j M_kj(t) M_lj(s)`` of the weights orthogonal to the
        teacher and response ``R(t,s)_{kl}`` (a twin run with a tiny random force on every
        unit; theory.md section 8), entry by entry those of `NetworkDMFTResult`; else
        None.
    """

    config: Config
    d: int
    replicas: int
    seed: int
    t: np.ndarray
    M: np.ndarray
    Q: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray
    train_error: np.ndarray | None
    test_error: np.ndarray | None
    C: np.ndarray | None = None
    R: np.ndarray | None = None

    def _payload(self) -> tuple[str, dict[str, Any], dict[str, np.ndarray]]:
        meta = {"config": self.config.to_dict(), "d": self.d, "replicas": self.replicas, "seed": self.seed}
        return "network", meta, {name: getattr(self, name) for name in ("t", *self.recorded)}

    def __repr__(self) -> str:
        return (f"NetworkResult(d={self.d}, replicas={self.replicas}, seed={self.seed}, hidden={self.hidden}, "
                f"teacher_units={self.teacher_units}, steps={self.t.size}, config={self.config!r})")


@dataclasses.dataclass(frozen=True, eq=False)
class NetworkDMFTResult(_NetworkArrays):
    """The DMFT of a two-layer network (theory.md section 8.2): `t` (T,), the order
    parameters ``M`` (groups, T, K, K*) and ``Q`` (groups, T, K, K) and each observable
    (groups, T), one row per independent group of effective samples: ``mean(name)`` is
    the DMFT's value and ``sem(name)`` its Monte Carlo error (the groups' spread).

    What `solve_dmft` returns for a network config.

    Attributes
    ----------
    config : Config
        The settings of the run.
    samples, groups, seed : int
        The effective samples, in how many groups, and the seed.
    t : ndarray (T,)
        The times t_k.
    M : ndarray (groups, T, K, K*)
        Each group's overlaps ``w_k . w*_j / d``.
    Q : ndarray (groups, T, K, K)
        Each group's Gram matrix ``w_k . w_l / d`` (``C(t,t) + M M^T``).
    train_loss, test_loss : ndarray (groups, T)
        Training loss; test loss (each group's own Monte Carlo over the Gaussian law of the
        fields given its M and Q).
    train_error, test_error : ndarray (groups, T) or None
        Classification errors; None where the labels are not ±1.
    C, R : ndarray (groups, T, K, T, K) or None
        Each group's correlation ``C(t,s)_{kl}`` of the weights orthogonal to the teacher
        and response ``R(t,s)_{kl}`` (``mean("C")``, ``sem("C")``); kept while
        2 groups (T K)^2 <= 1e7, else None.
    """

    config: Config
    samples: int
    groups: int
    seed: int
    t: np.ndarray
    M: np.ndarray
    Q: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray
    train_error: np.ndarray | None
    test_error: np.ndarray | None
    C: np.ndarray | None = None
    R: np.ndarray | None = None

    def _payload(self) -> tuple[str, dict[str, Any], dict[str, np.ndarray]]:
        meta = {"config": self.config.to_dict(), "samples": self.samples, "groups": self.groups,
                "seed": self.seed}
        return "network_dmft", meta, {name: getattr(self, name) for name in ("t", *self.recorded)}

    def __repr__(self) -> str:
        return (f"NetworkDMFTResult(samples={self.samples}, groups={self.groups}, seed={self.seed}, "
                f"hidden={self.hidden}, teacher_units={self.teacher_units}, steps={self.t.size}, "
                f"config={self.config!r})")


@dataclasses.dataclass(frozen=True, eq=False)
class NetworkTrajectoryResult:
    """One SGD run of a committee on your data (theory.md section 8): `t` (T,), the order
    parameters ``M`` (T, K, K*) and ``Q`` (T, K, K), each observable (T,) and the final
    weights ``W`` (K, d).

    What `sgd_trajectory` returns for ``w0`` of shape (K, d) (or a config with ``hidden >
    1``). ``test_loss`` and ``test_error`` are measured on the test set passed to it
    (None without one); the errors are None unless every label is ±1.

    Attributes
    ----------
    config : Config
        The settings of the run.
    t : ndarray (T,)
        The times t_k.
    M : ndarray (T, K, K*)
        Overlaps ``w_k . v*_j / d`` of the units with the rows of `v_star`.
    Q : ndarray (T, K, K)
        Gram matrix ``w_k . w_l / d`` of the units.
    train_loss : ndarray (T,)
        Mean training loss (without the ridge term).
    test_loss : ndarray (T,) or None
        Mean loss on the test set; None without one.
    train_error, test_error : ndarray (T,) or None
        Classification errors (``y o <= 0``); None unless every label is ±1 (and
        ``test_error`` without a test set).
    W : ndarray (K, d)
        The weights at the last step (those of ``M[-1]`` and ``Q[-1]``).
    """

    config: Config
    t: np.ndarray
    M: np.ndarray
    Q: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray | None
    train_error: np.ndarray | None
    test_error: np.ndarray | None
    W: np.ndarray

    @property
    def hidden(self) -> int:
        """The student's hidden units K."""
        return int(self.M.shape[1])

    @property
    def teacher_units(self) -> int:
        """The number K* of directions in `v_star`."""
        return int(self.M.shape[2])

    def __repr__(self) -> str:
        return (f"NetworkTrajectoryResult(hidden={self.hidden}, teacher_units={self.teacher_units}, "
                f"d={self.W.shape[1]}, steps={self.t.size}, config={self.config!r})")


def network_trajectory(cfg: Config, X: Any, y: Any, v_star: Any, w0: Any, seed: Any, batches: Any,
                       langevin_noise: Any, X_test: Any, y_test: Any) -> NetworkTrajectoryResult:
    """`sgd_trajectory` of a committee (`cfg` checked there): every shape is checked here,
    naming the argument, since the core sees only the number of entries."""
    X = as_float_array("X", X, 2)
    y = as_float_array("y", y, 1)
    if np.ndim(v_star) not in (1, 2):
        raise invalid("v_star", None, f"v_star must have shape (K*, d) or (d,), got {np.shape(v_star)}")
    v_star = as_float_array("v_star", np.atleast_2d(v_star), 2)
    w0 = as_float_array("w0", w0, np.ndim(w0))
    seed = as_seed(seed)
    steps, k, (n, d) = cfg.steps, cfg.hidden, (y.shape[0], v_star.shape[1])
    if w0.shape != (k, d):
        raise invalid("w0", None, f"w0 must have shape (K, d) = ({k}, {d}) for a committee of K = hidden = {k} "
                      f"units, got {w0.shape}")
    if X.shape != (n, d):
        raise invalid("X", None, f"X must have shape (n, d) = ({n}, {d}) to match y and v_star, got {X.shape}")
    batches = as_batch_mask(batches, steps, n)
    if langevin_noise is not None:
        langevin_noise = as_float_array("langevin_noise", langevin_noise, 3)
        if langevin_noise.shape != (steps, k, d):
            raise invalid("langevin_noise", None, f"langevin_noise must have shape (steps, K, d) = ({steps}, {k}, "
                          f"{d}), got {langevin_noise.shape}")
    X_test, y_test = as_test_set(X_test, y_test, d)
    out = _core.network_trajectory(cfg.to_dict(), X, y, v_star, w0, seed=seed, batches=batches,
                                   langevin_noise=langevin_noise, x_test=X_test, y_test=y_test)
    return NetworkTrajectoryResult(config=cfg, **out)  # type: ignore[arg-type]


def solve_network_dmft(cfg: Config, samples: int, groups: int, seed: int, threads: int | None,
                       callback: Any, target: Any = None, response: str = "auto",
                       keep_groups: bool | None = None) -> NetworkDMFTResult:
    """The core's DMFT of a network as a `NetworkDMFTResult` (arguments checked by
    `solve_dmft`; `keep_groups` whether each group's C and R blocks are kept, None while
    they are small)."""
    out = _core.solve_network_dmft(cfg.to_dict(), samples=samples, groups=groups, seed=seed, threads=threads,
                                   response=response, progress=callback, target=target,
                                   keep_two_time=keep_groups)
    return NetworkDMFTResult(config=cfg, samples=samples, groups=groups, seed=seed, **out)  # type: ignore[arg-type]


def simulate_network(cfg: Config, d: int, replicas: int, seed: int, threads: int | None,
                     callback: Any, target: Any = None, record_two_time: bool = False) -> NetworkResult:
    """The core's network ensemble as a `NetworkResult` (arguments checked by `simulate`;
    `target` the labels' callable, or None for the config's teacher; `record_two_time`
    whether each replica's C and R blocks are recorded)."""
    out = _core.simulate_network(cfg.to_dict(), d=d, replicas=replicas, seed=seed, threads=threads,
                                 progress=callback, target=target, record_two_time=record_two_time)
    return NetworkResult(config=cfg, d=d, replicas=replicas, seed=seed, **out)  # type: ignore[arg-type]


def _network_from_file(meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> NetworkResult:
    replicas = int(meta["replicas"])
    return NetworkResult(d=int(meta["d"]), replicas=replicas, seed=int(meta["seed"]),
                         **_arrays_from_file(meta, arrays, replicas, where))


def _arrays_from_file(meta: dict[str, Any], arrays: dict[str, np.ndarray], rows: int, where: str) -> dict[str, Any]:
    """The network arrays of a file, checked: `rows` runs of the config's T steps."""
    cfg = Config.from_dict(meta["config"])
    M, Q = arrays.get("M"), arrays.get("Q")
    if M is None or Q is None or M.ndim != 4 or Q.ndim != 4 or M.shape[:3] != (rows, cfg.steps, cfg.hidden):
        raise ValueError(f"{where}: arrays 'M' and 'Q' are missing or not of shape (runs, T, K, ...)")
    fields: dict[str, Any] = {"config": cfg, "t": arrays["t"], "M": M, "Q": Q}
    for name in NETWORK_OBSERVABLES:
        a = arrays.get(name)
        if a is not None and a.shape != (rows, cfg.steps):
            raise ValueError(f"{where}: array {name!r} is not of shape {(rows, cfg.steps)}")
        fields[name] = a
    if fields["train_loss"] is None or fields["test_loss"] is None:
        raise ValueError(f"{where}: the losses are missing")
    for name in TWO_TIME:
        a = arrays.get(name)
        shape = (rows, cfg.steps, cfg.hidden, cfg.steps, cfg.hidden)
        if a is not None and a.shape != shape:
            raise ValueError(f"{where}: array {name!r} is not of shape {shape}")
        fields[name] = a
    return fields


def _network_dmft_from_file(meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> NetworkDMFTResult:
    groups = int(meta["groups"])
    return NetworkDMFTResult(samples=int(meta["samples"]), groups=groups, seed=int(meta["seed"]),
                             **_arrays_from_file(meta, arrays, groups, where))


READERS["network"] = _network_from_file
READERS["network_dmft"] = _network_dmft_from_file
