"""Result classes (numpy arrays plus the config that produced them) and `load`."""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from . import _core, _io
from ._typing import dataclass_transform
from .config import Config

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

#: The observables recorded at every time step, as the Rust core lists them
#: (``dmft_sgd._core.OBSERVABLES``): the one source of the result classes' fields, the
#: command line's table and the plots' labels.
OBSERVABLES: tuple[str, ...] = tuple(entry[0] for entry in _core.OBSERVABLES)
#: A short label of each observable for plot axes (matplotlib mathtext).
LABELS: dict[str, str] = {entry[0]: entry[1] for entry in _core.OBSERVABLES}
#: What each observable measures, in one line.
DESCRIPTIONS: dict[str, str] = {entry[0]: entry[2] for entry in _core.OBSERVABLES}
#: The observables defined only for labels ±1 (the classification errors; the registry
#: says which): recorded only where ``Config.classifies``.
ERRORS: tuple[str, ...] = tuple(entry[0] for entry in _core.OBSERVABLES if entry[3])


def recorded(cfg: Config) -> tuple[str, ...]:
    """The observables a run of `cfg` records: all of them, without the classification
    errors for a regression teacher (``teacher='linear'`` or ``'square'``)."""
    return OBSERVABLES if cfg.classifies else tuple(o for o in OBSERVABLES if o not in ERRORS)


def check_recorded(cfg: Config, name: str) -> None:
    """ValueError unless `name` is an observable that a run of `cfg` records."""
    if name not in OBSERVABLES:
        raise ValueError(f"name must be one of {OBSERVABLES}, got {name!r}")
    if name not in recorded(cfg):
        raise ValueError(
            f"{name} is not defined for teacher={cfg.teacher!r}: its labels are real numbers, "
            f"not ±1, so there is no classification error (the attribute is None); use "
            f"test_loss or train_loss")


@dataclass_transform(frozen_default=True, eq_default=False)
def _with_observables(
    shape: str, sem: bool = False
) -> Callable[[type], type]:
    """Makes `cls` a frozen dataclass whose fields are its own annotations with one array
    field per observable of the registry inserted after ``t`` (and, with `sem`, a
    ``<name>_sem`` field per observable, None by default, at the end); its docstring, which
    ends with its own Attributes section (numpydoc), gains an entry per generated field. The
    class keeps its name, module and methods, so it pickles.

    Type checkers do not run this: the class declares the generated fields for them under
    ``if TYPE_CHECKING:``, in the order made here (tests/test_types.py checks that the
    declarations are the registry's observables and the runtime dataclass's fields)."""

    def wrap(cls: type) -> type:
        own = list(inspect.get_annotations(cls).items())
        at = [name for name, _ in own].index("t") + 1
        fields: list[Any] = [*own[:at], *((o, "np.ndarray | None") for o in OBSERVABLES), *own[at:]]
        if sem:
            fields += [(f"{o}_sem", "np.ndarray | None", dataclasses.field(default=None))
                       for o in OBSERVABLES]
        namespace = {k: v for k, v in cls.__dict__.items()
                     if k not in ("__annotations__", "__annotate__", "__dict__", "__weakref__")}
        out = dataclasses.make_dataclass(cls.__name__, fields, bases=cls.__bases__,
                                         namespace=namespace, frozen=True, eq=False)
        out.__module__, out.__qualname__ = cls.__module__, cls.__qualname__
        regression = "; None where the labels are not ±1 (a regression teacher)"
        listing = "".join(f"    {o} : ndarray {shape}{' or None' if o in ERRORS else ''}\n"
                          f"        {DESCRIPTIONS[o][:1].upper()}{DESCRIPTIONS[o][1:]}"
                          f"{regression if o in ERRORS else ''}.\n"
                          for o in OBSERVABLES)
        if sem:
            listing += "".join(f"    {o}_sem : ndarray (T,) or None\n"
                               f"        Monte Carlo standard error of ``{o}`` (``sem('{o}')``).\n"
                               for o in OBSERVABLES)
        out.__doc__ = f"{(cls.__doc__ or '').rstrip()}\n{listing}"
        return out

    return wrap


def _pandas(what: str) -> Any:
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"{what} needs pandas: pip install 'dmft-sgd[table]'") from exc
    return pd


def _tidy(result: Any, with_sem: bool) -> Any:
    """Long-form table of a result's recorded observables: columns t, observable, value,
    sem (NaN where none is reported), one row per (observable, step)."""
    pd = _pandas("to_dataframe()")
    names = recorded(result.config)
    steps = result.t.size
    return pd.DataFrame({
        "t": np.tile(result.t, len(names)),
        "observable": np.repeat(names, steps),
        "value": np.concatenate([result.mean(n) for n in names]),
        "sem": np.concatenate([result.sem(n) if with_sem else np.full(steps, np.nan) for n in names]),
    })


def _sem_uncertainty(estimates: int) -> float:
    """1/sqrt(2 (n - 1)): the relative standard deviation of a standard error taken from
    the spread of n independent Gaussian estimates (n - 1 degrees of freedom); NaN for one."""
    return 1.0 / math.sqrt(2 * (estimates - 1)) if estimates > 1 else math.nan


@_with_observables("(T,)")
class TrajectoryResult:
    """Observables of one SGD run on user data, each of shape (T,), and final weights `w`.

    What `sgd_trajectory` returns. ``test_loss`` and ``test_error`` are measured on the
    test set passed to it (None without one); the errors are None unless every label is
    ±1.

    Attributes
    ----------
    config : Config
        The settings of the run.
    t : ndarray (T,)
        The times t_k (k lr for a constant learning rate).
    w : ndarray (d,)
        The weights after the last step.
    """

    config: Config
    t: np.ndarray
    if TYPE_CHECKING:  # generated from the registry at import (_with_observables)
        m: np.ndarray | None
        q: np.ndarray | None
        train_loss: np.ndarray | None
        test_loss: np.ndarray | None
        train_error: np.ndarray | None
        test_error: np.ndarray | None
    w: np.ndarray


@_with_observables("(replicas, T)")
class SimulationResult:
    """A finite-d ensemble: `t` of shape (T,) and each observable of shape (replicas, T).

    What `simulate` returns. Use `mean(name)` and `sem(name)` for the ensemble average and
    its standard error (of an observable, or of ``"C"`` and ``"R"`` where recorded,
    comparable entry by entry with a DMFT result's); `save` writes it, `load` reads it
    back.

    Attributes
    ----------
    config : Config
        The settings of the run.
    d : int
        The dimension.
    replicas : int
        The number of independent runs (rows of each observable).
    seed : int
        The seed; replica r used stream r of it.
    t : ndarray (T,)
        The times t_k (k lr for a constant learning rate).
    C, R : ndarray (replicas, T, T) or None
        Each replica's correlation ``C[k, l] = w(k)·w(l)/d - m(k) m(l)`` (``q`` on the
        diagonal) and response R (zero on and above the diagonal, estimated by a twin run,
        theory.md section 4.7); None unless simulated with ``record_two_time=True``.
    """

    config: Config
    d: int
    replicas: int
    seed: int
    t: np.ndarray
    if TYPE_CHECKING:  # generated from the registry at import (_with_observables)
        m: np.ndarray | None
        q: np.ndarray | None
        train_loss: np.ndarray | None
        test_loss: np.ndarray | None
        train_error: np.ndarray | None
        test_error: np.ndarray | None
    C: np.ndarray | None = None
    R: np.ndarray | None = None

    def _observable(self, name: str) -> np.ndarray:
        if name in SIMULATED_TWO_TIME:
            values: np.ndarray | None = getattr(self, name)
            if values is None:
                raise ValueError(f"{name} was not recorded: simulate with record_two_time=True")
            return values
        check_recorded(self.config, name)
        observable: np.ndarray = getattr(self, name)
        return observable

    def mean(self, name: str) -> np.ndarray:
        """Replica average of an observable, shape (T,), or of ``"C"`` or ``"R"``, shape
        (T, T) (where recorded)."""
        mean: np.ndarray = self._observable(name).mean(axis=0)
        return mean

    @property
    def sem_uncertainty(self) -> float:
        """The relative uncertainty of every ``sem``: 1/sqrt(2 (replicas - 1)), the
        relative standard deviation of a standard error taken from `replicas` independent
        runs (27% at 8 replicas, 10% at 51); NaN for one replica (no ``sem``)."""
        return _sem_uncertainty(self.replicas)

    def sem(self, name: str) -> np.ndarray:
        """Standard error of `mean(name)`: std over replicas (ddof=1) / sqrt(replicas);
        itself uncertain by ``sem_uncertainty`` (relative)."""
        values = self._observable(name)
        if self.replicas < 2:
            raise ValueError("sem needs replicas >= 2")
        sem: np.ndarray = values.std(axis=0, ddof=1) / np.sqrt(self.replicas)
        return sem

    def to_dataframe(self) -> pd.DataFrame:
        """A tidy pandas DataFrame: columns ``t``, ``observable``, ``value`` (the replica
        mean) and ``sem`` (NaN for one replica), one row per recorded observable and step."""
        return _tidy(self, with_sem=self.replicas > 1)

    def to_xarray(self) -> xr.Dataset:
        """An xarray Dataset (needs ``pip install 'dmft-sgd[xarray]'``): dims ``replica``
        and ``t`` (coordinate ``t``, the times); each recorded observable as a variable of
        dims (replica, t), its replica mean as ``<name>_mean`` and, for two replicas or
        more, its standard error as ``<name>_sem`` (dim t); where recorded, ``C`` and
        ``R`` of dims (replica, t, t_prime) with their ``_mean`` and ``_sem`` of dims
        (t, t_prime). ``attrs``: ``config`` (JSON:
        ``Config.from_dict(json.loads(ds.attrs["config"]))`` restores it), ``d``,
        ``replicas``, ``seed``, ``kind`` and ``dmft_sgd_version``."""
        from . import _xarray

        return _xarray.simulation(self)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes one `.npz` file (arrays + config); read it back with `dmft_sgd.load`."""
        return _io.write(path, *self._payload())

    def _payload(self) -> tuple[str, dict[str, Any], dict[str, np.ndarray]]:
        meta = {"config": self.config.to_dict(), "d": self.d, "replicas": self.replicas, "seed": self.seed}
        names = ("t", *recorded(self.config), *(n for n in SIMULATED_TWO_TIME if getattr(self, n) is not None))
        return "simulation", meta, {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        return (
            f"SimulationResult(d={self.d}, replicas={self.replicas}, seed={self.seed}, "
            f"steps={self.t.size}, config={self.config!r})"
        )


@_with_observables("(T,)", sem=True)
class DMFTResult:
    """The d -> infinity dynamics: observables of shape (T,), two-time matrices (T, T).

    Every quantity is the mean over `groups` independently solved groups of samples;
    ``sem(name)`` is its Monte Carlo standard error (their spread over sqrt(groups)), for
    an observable and for the two-time quantities ``"C"``, ``"R"``, ``"M_C"``, ``"M_R"``
    and ``"mu"`` alike. ``C[k, l]`` correlation and ``R[k, l]`` response of the weights
    (``q = diag(C)``), ``M_C``, ``M_R`` and ``mu`` the memory kernels (None when solved
    with ``keep_kernels=False``); ``response`` the estimator of M_R that was used
    ("tangent" or "probe", with its ``band``); for method "iterate", ``changes`` the largest
    relative kernel change per iteration, ``change_noise`` the change that the Monte
    Carlo noise alone makes (the iteration stops once the change is below ``tol`` or
    below its noise; None in files written before 0.3) and ``converged`` whether it did.
    ``group_values(name)`` gives each group's observable (and, where they were kept, its
    C and R), from which statistics of any function of them follow (as `fdt` computes the
    error bar of the effective temperature).

    What `solve_dmft` returns; `save` writes it, `load` reads it back.

    Attributes
    ----------
    config : Config
        The settings of the run.
    samples, seed, method, groups, response, band, response_samples
        The solver's settings as used (`solve_dmft`'s arguments, with ``groups``,
        ``response`` and ``band`` resolved).
    t : ndarray (T,)
        The times t_k (k lr for a constant learning rate).
    C, R : ndarray (T, T)
        The correlation C[k, l] and the response R[k, l] of the weights (theory.md
        section 3; ``q = diag(C)``, R is zero on and above the diagonal).
    M_C, M_R : ndarray (T, T) or None
        The memory kernels (None with ``keep_kernels=False``).
    mu : ndarray (T,) or None
        The kernel mu (None with ``keep_kernels=False``).
    changes : ndarray
        For method "iterate", the largest relative kernel change of each iteration.
    converged : bool
        Whether the iteration converged.
    change_noise : ndarray or None
        For method "iterate", the change the Monte Carlo noise alone makes, per iteration.
    C_sem, R_sem : ndarray (T, T) or None
        Monte Carlo standard errors of ``C`` and ``R``, entry by entry (``sem('C')``);
        None for one group and in files written before format version 3.
    M_C_sem, M_R_sem : ndarray (T, T) or None
        Monte Carlo standard errors of the kernels; None also with ``keep_kernels=False``.
    mu_sem : ndarray (T,) or None
        Monte Carlo standard error of ``mu``; None also with ``keep_kernels=False``.
    C_groups, R_groups : ndarray (groups, T, T) or None
        Each group's C and R (their mean is ``C``, ``R``); None unless solved with
        ``keep_groups`` (the default keeps them while groups x T^2 <= 1e7).
    group_observables : dict of str to ndarray (groups, T), or None
        Each group's series of every recorded observable (``group_values(name)``); None
        in files written before format version 3.
    """

    config: Config
    samples: int
    seed: int
    method: str
    groups: int
    response: str
    band: int
    response_samples: int
    t: np.ndarray
    if TYPE_CHECKING:  # generated from the registry at import (_with_observables)
        m: np.ndarray | None
        q: np.ndarray | None
        train_loss: np.ndarray | None
        test_loss: np.ndarray | None
        train_error: np.ndarray | None
        test_error: np.ndarray | None
    C: np.ndarray
    R: np.ndarray
    M_C: np.ndarray | None
    M_R: np.ndarray | None
    mu: np.ndarray | None
    changes: np.ndarray
    converged: bool
    change_noise: np.ndarray | None = None
    C_sem: np.ndarray | None = None
    R_sem: np.ndarray | None = None
    M_C_sem: np.ndarray | None = None
    M_R_sem: np.ndarray | None = None
    mu_sem: np.ndarray | None = None
    C_groups: np.ndarray | None = None
    R_groups: np.ndarray | None = None
    group_observables: dict[str, np.ndarray] | None = None
    if TYPE_CHECKING:  # generated from the registry at import (_with_observables)
        m_sem: np.ndarray | None = None
        q_sem: np.ndarray | None = None
        train_loss_sem: np.ndarray | None = None
        test_loss_sem: np.ndarray | None = None
        train_error_sem: np.ndarray | None = None
        test_error_sem: np.ndarray | None = None

    def mean(self, name: str) -> np.ndarray:
        """An observable by name, shape (T,), or a two-time quantity ``"C"``, ``"R"``,
        ``"M_C"``, ``"M_R"`` (T, T) or ``"mu"`` (T,): the same as the attribute."""
        if name in TWO_TIME:
            values: np.ndarray | None = getattr(self, name)
            if values is None:
                raise ValueError(f"{name} was not kept: solve with keep_kernels=True (the default)")
            return values
        if name not in OBSERVABLES:
            raise ValueError(f"name must be one of {OBSERVABLES} or of the two-time quantities {TWO_TIME}, "
                             f"got {name!r}")
        check_recorded(self.config, name)
        observable: np.ndarray = getattr(self, name)
        return observable

    @property
    def sem_uncertainty(self) -> float:
        """The relative uncertainty of every ``sem``: 1/sqrt(2 (groups - 1)). A standard
        error taken from the spread of G independent groups has G - 1 degrees of freedom,
        so it is itself known only to about this fraction: 27% at the default 8 groups,
        41% at 4 (beyond 4000 steps); 10% needs 51 groups. NaN for one group (no ``sem``).

        Examples
        --------
        >>> import dmft_sgd as ds
        >>> res = ds.solve_dmft(ds.Config(steps=5), samples=80, seed=0)
        >>> res.groups, round(res.sem_uncertainty, 3)
        (8, 0.267)
        """
        return _sem_uncertainty(self.groups)

    def sem(self, name: str) -> np.ndarray:
        """Monte Carlo standard error of an observable, shape (T,), or of a two-time
        quantity ``"C"``, ``"R"``, ``"M_C"``, ``"M_R"`` (T, T) or ``"mu"`` (T,), entry by
        entry: the spread of the independent groups (ddof=1) over sqrt(groups). It is
        itself uncertain by ``sem_uncertainty`` (27% relative at 8 groups).

        Raises
        ------
        ValueError
            `name` is not one of these; the run had one group (no error bars); the
            kernels were not kept (``keep_kernels=False``); the file predates the two-time
            errors (format version 3)."""
        self.mean(name)
        if self.groups < 2:
            raise ValueError("sem needs groups >= 2: solve with groups=8 (the default) for error bars")
        sem: np.ndarray | None = getattr(self, f"{name}_sem")
        if sem is None:  # only a two-time quantity of a file written before version 3
            raise ValueError(f"this result has no standard error of {name}: it was saved before the "
                             f"two-time errors (format version 3); solve it again for them")
        return sem

    def group_values(self, name: str) -> np.ndarray:
        """Each group's series of an observable, shape (groups, T); their mean over axis 0
        is ``mean(name)``, their spread gives ``sem(name)``. ``"C"`` and ``"R"`` give each
        group's matrix, shape (groups, T, T), where they were kept (``keep_groups``).

        Raises
        ------
        ValueError
            `name` is not a recorded observable, nor C or R; the groups' values were not
            kept (C and R: ``keep_groups=False``, or groups x T^2 > 1e7 by default; any:
            a file written before format version 3)."""
        if name in ("C", "R"):
            kept: np.ndarray | None = getattr(self, f"{name}_groups")
            if kept is None:
                raise ValueError(f"each group's {name} was not kept: solve with keep_groups=True")
            return kept
        check_recorded(self.config, name)
        if self.group_observables is None:
            raise ValueError("this result has no groups' values: it was saved before they were kept "
                             "(format version 3); solve it again for them")
        return self.group_observables[name]

    def to_dataframe(self) -> pd.DataFrame:
        """A tidy pandas DataFrame: columns ``t``, ``observable``, ``value`` and ``sem``
        (the Monte Carlo error; NaN for one group), one row per recorded observable and
        step."""
        return _tidy(self, with_sem=self.groups > 1)

    def to_xarray(self) -> xr.Dataset:
        """An xarray Dataset (needs ``pip install 'dmft-sgd[xarray]'``): dim ``t``
        (coordinate ``t``, the times) and ``t_prime`` (the same times) for the two-time
        matrices; each recorded observable as a variable and, for two groups or more, its
        Monte Carlo standard error as ``<name>_sem``; ``C`` and ``R`` of dims
        (t, t_prime), ``M_C``, ``M_R`` and ``mu`` when the kernels were kept, each with its
        standard error ``<name>_sem`` (two groups or more); for method "iterate",
        ``changes`` (and ``change_noise``) of dim ``iteration`` (the single pass has
        neither, nor the dim). ``ds.to_netcdf(path)`` writes it (the extra brings
        h5netcdf). ``attrs``: ``config`` (JSON:
        ``Config.from_dict(json.loads(ds.attrs["config"]))`` restores it), ``seed``,
        ``samples``, ``groups``, ``method``, ``response``, ``band``, ``response_samples``,
        ``converged`` (0 or 1), ``kind`` and ``dmft_sgd_version``."""
        from . import _xarray

        return _xarray.dmft(self)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes one `.npz` file (arrays + config); read it back with `dmft_sgd.load`."""
        return _io.write(path, *self._payload())

    def _payload(self) -> tuple[str, dict[str, Any], dict[str, np.ndarray]]:
        meta = {name: getattr(self, name) for name in _DMFT_META}
        meta["config"] = self.config.to_dict()
        arrays = {name: getattr(self, name) for name in _DMFT_ARRAYS}
        for name, values in (self.group_observables or {}).items():
            arrays[f"{name}_groups"] = values
        return "dmft", meta, {name: a for name, a in arrays.items() if a is not None}

    def __repr__(self) -> str:
        return (
            f"DMFTResult(samples={self.samples}, groups={self.groups}, seed={self.seed}, "
            f"method={self.method!r}, response={self.response!r}, steps={self.t.size}, "
            f"config={self.config!r})"
        )


#: The two-time quantities a simulation records with ``record_two_time=True``.
SIMULATED_TWO_TIME = ("C", "R")
_DMFT_META = ("samples", "seed", "method", "groups", "response", "band", "response_samples", "converged")
_DMFT_SEMS = tuple(f"{name}_sem" for name in OBSERVABLES)
_DMFT_KERNELS = ("M_C", "M_R", "mu")
#: The two-time quantities whose standard errors a DMFT result holds (format version 3).
TWO_TIME = ("C", "R", *_DMFT_KERNELS)
_DMFT_TWO_TIME_SEMS = tuple(f"{name}_sem" for name in TWO_TIME)
_DMFT_ARRAYS = ("t", *OBSERVABLES, "C", "R", *_DMFT_KERNELS, "changes", "change_noise", *_DMFT_SEMS,
                *_DMFT_TWO_TIME_SEMS, "C_groups", "R_groups")


def _version(meta: dict[str, Any]) -> int:
    """The format version of a file's header (the current one for a result in memory)."""
    version: int = meta.get("version") or _io.VERSION
    return version


def _stored(cfg: Config, meta: dict[str, Any]) -> tuple[str, ...]:
    """The observables a file of this header holds: files of format version 1 predate
    the test loss."""
    legacy = _version(meta) < 2
    return tuple(o for o in recorded(cfg) if not (legacy and o == "test_loss"))


def _check_arrays(
    arrays: dict[str, np.ndarray], expected: dict[str, tuple[int, ...] | None], where: str
) -> None:
    for name, shape in expected.items():
        a = arrays.get(name)
        if a is None or a.dtype != np.float64 or (shape is not None and a.shape != shape):
            raise ValueError(f"{where}: array {name!r} is missing or not float64 of shape {shape}")


def _dmft_from_file(meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> DMFTResult:
    cfg = Config.from_dict(meta["config"])
    T, groups = cfg.steps, int(meta["groups"])
    expected: dict[str, tuple[int, ...] | None] = {name: (T,) for name in ("t", *_stored(cfg, meta))}
    expected.update(C=(T, T), R=(T, T), changes=None)
    if groups > 1:
        expected.update({f"{name}_sem": (T,) for name in _stored(cfg, meta)})
    kernels = "M_C" in arrays
    if kernels:
        expected.update(M_C=(T, T), M_R=(T, T), mu=(T,))
    group_observables: dict[str, np.ndarray] | None = None
    if _version(meta) >= 3:  # the two-time errors and the groups' values
        if groups > 1:
            expected.update(C_sem=(T, T), R_sem=(T, T))
            if kernels:
                expected.update(M_C_sem=(T, T), M_R_sem=(T, T), mu_sem=(T,))
        if "C_groups" in arrays or "R_groups" in arrays:
            expected.update(C_groups=(groups, T, T), R_groups=(groups, T, T))
        expected.update({f"{name}_groups": (groups, T) for name in _stored(cfg, meta)})
    _check_arrays(arrays, expected, where)
    if _version(meta) >= 3:
        group_observables = {name: arrays[f"{name}_groups"] for name in _stored(cfg, meta)}
    stored: dict[str, Any] = {name: arrays.get(name) for name in _DMFT_ARRAYS}
    return DMFTResult(
        config=cfg, samples=int(meta["samples"]), seed=int(meta["seed"]), method=str(meta["method"]),
        groups=groups, response=str(meta["response"]), band=int(meta["band"]),
        response_samples=int(meta["response_samples"]), converged=bool(meta["converged"]),
        group_observables=group_observables, **stored,
    )


def _simulation_from_file(meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> SimulationResult:
    cfg = Config.from_dict(meta["config"])
    replicas = int(meta["replicas"])
    expected: dict[str, tuple[int, ...] | None] = {
        "t": (cfg.steps,), **{name: (replicas, cfg.steps) for name in _stored(cfg, meta)}}
    if "C" in arrays or "R" in arrays:
        expected.update(C=(replicas, cfg.steps, cfg.steps), R=(replicas, cfg.steps, cfg.steps))
    _check_arrays(arrays, expected, where)
    stored: dict[str, Any] = {name: arrays.get(name) for name in ("t", *OBSERVABLES, *SIMULATED_TWO_TIME)}
    return SimulationResult(
        config=cfg, d=int(meta["d"]), replicas=replicas, seed=int(meta["seed"]),
        **stored,
    )


#: Readers of the result kinds: (header, arrays, where) -> result. The sweep module adds its own.
READERS: dict[str, Any] = {"simulation": _simulation_from_file, "dmft": _dmft_from_file}


def from_payload(meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> Any:
    """A result from its header and arrays (as written by its ``_payload``)."""
    kind: Any = meta.get("kind")
    reader = READERS.get(kind)
    if reader is None:
        raise ValueError(f"{where}: unknown result kind {meta.get('kind')!r}")
    try:
        return reader(meta, arrays, where)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{where}: incomplete header ({exc})") from None


def load(path: str | os.PathLike[str]) -> Any:
    """Reads a result written by ``save`` (DMFTResult, SimulationResult, SweepResult or SGFResult):
    the same class with identical arrays and config.

    Parameters
    ----------
    path : str or path-like
        A ``.npz`` result file. It is read without ever unpickling.

    Returns
    -------
    DMFTResult, SimulationResult, SweepResult or SGFResult
        The result as saved.

    Raises
    ------
    ValueError
        The file is not a (complete, untampered) result file.
    FileNotFoundError
        There is no such file.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import dmft_sgd as ds
    >>> sim = ds.simulate(ds.Config(steps=5), d=50, replicas=2, seed=0, threads=1)
    >>> path = sim.save(os.path.join(tempfile.mkdtemp(), "sim.npz"))
    >>> same = ds.load(path)
    >>> same
    SimulationResult(d=50, replicas=2, seed=0, steps=5, config=Config(...))
    >>> np.array_equal(same.q, sim.q) and same.config == sim.config
    True
    """
    meta, arrays = _io.read(path)
    return from_payload(meta, arrays, str(path))
