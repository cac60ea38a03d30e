"""Result classes (numpy arrays plus the config that produced them) and `load`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import _io
from .config import Config

#: Observables recorded at every time step.
OBSERVABLES = ("m", "q", "train_loss", "train_error", "test_error")


def time_axis(cfg: Config) -> np.ndarray:
    """Physical times t = k * lr of the steps k = 0..T-1."""
    return np.arange(cfg.steps, dtype=np.float64) * cfg.lr


@dataclass(frozen=True, eq=False)
class TrajectoryResult:
    """Observables of one SGD run on user data, each of shape (T,), and final weights `w`."""

    config: Config
    t: np.ndarray
    m: np.ndarray
    q: np.ndarray
    train_loss: np.ndarray
    train_error: np.ndarray
    test_error: np.ndarray
    w: np.ndarray


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """A finite-d ensemble: `t` of shape (T,) and each observable of shape (replicas, T).

    Use `mean(name)` and `sem(name)` for the ensemble average and its standard error.
    """

    config: Config
    d: int
    replicas: int
    seed: int
    t: np.ndarray
    m: np.ndarray
    q: np.ndarray
    train_loss: np.ndarray
    train_error: np.ndarray
    test_error: np.ndarray

    def _observable(self, name: str) -> np.ndarray:
        if name not in OBSERVABLES:
            raise ValueError(f"name must be one of {OBSERVABLES}, got {name!r}")
        return getattr(self, name)

    def mean(self, name: str) -> np.ndarray:
        """Replica average of an observable, shape (T,)."""
        return self._observable(name).mean(axis=0)

    def sem(self, name: str) -> np.ndarray:
        """Standard error of `mean(name)`: std over replicas (ddof=1) / sqrt(replicas)."""
        values = self._observable(name)
        if self.replicas < 2:
            raise ValueError("sem needs replicas >= 2")
        return values.std(axis=0, ddof=1) / np.sqrt(self.replicas)

    def save(self, path: str | os.PathLike) -> Path:
        """Writes one `.npz` file (arrays + config); read it back with `dmft_sgd.load`."""
        return _io.write(path, *self._payload())

    def _payload(self) -> tuple[str, dict[str, Any], dict[str, np.ndarray]]:
        meta = {"config": self.config.to_dict(), "d": self.d, "replicas": self.replicas, "seed": self.seed}
        return "simulation", meta, {name: getattr(self, name) for name in ("t", *OBSERVABLES)}

    def __repr__(self) -> str:
        return (
            f"SimulationResult(d={self.d}, replicas={self.replicas}, seed={self.seed}, "
            f"steps={self.t.size}, config={self.config!r})"
        )


@dataclass(frozen=True, eq=False)
class DMFTResult:
    """The d -> infinity dynamics: observables of shape (T,), two-time matrices (T, T).

    ``C[k, l]`` correlation and ``R[k, l]`` response of the weights (``q = diag(C)``),
    ``M_C``, ``M_R`` and ``mu`` the memory kernels; ``train_loss_sem`` and
    ``train_error_sem`` the Monte Carlo standard errors of the sample averages;
    ``changes`` the relative kernel change per iteration (method "iterate").
    """

    config: Config
    samples: int
    seed: int
    method: str
    response_samples: int
    t: np.ndarray
    m: np.ndarray
    q: np.ndarray
    train_loss: np.ndarray
    train_error: np.ndarray
    test_error: np.ndarray
    train_loss_sem: np.ndarray
    train_error_sem: np.ndarray
    C: np.ndarray
    R: np.ndarray
    M_C: np.ndarray
    M_R: np.ndarray
    mu: np.ndarray
    changes: np.ndarray
    converged: bool

    def save(self, path: str | os.PathLike) -> Path:
        """Writes one `.npz` file (arrays + config); read it back with `dmft_sgd.load`."""
        return _io.write(path, *self._payload())

    def _payload(self) -> tuple[str, dict[str, Any], dict[str, np.ndarray]]:
        meta = {name: getattr(self, name) for name in _DMFT_META}
        meta["config"] = self.config.to_dict()
        return "dmft", meta, {name: getattr(self, name) for name in _DMFT_ARRAYS}

    def __repr__(self) -> str:
        return (
            f"DMFTResult(samples={self.samples}, seed={self.seed}, method={self.method!r}, "
            f"steps={self.t.size}, config={self.config!r})"
        )


_DMFT_META = ("samples", "seed", "method", "response_samples", "converged")
_DMFT_ARRAYS = (
    "t", *OBSERVABLES, "train_loss_sem", "train_error_sem", "C", "R", "M_C", "M_R", "mu", "changes",
)


def _check_arrays(arrays: dict[str, np.ndarray], expected: dict[str, tuple], where: str) -> None:
    for name, shape in expected.items():
        a = arrays.get(name)
        if a is None or a.dtype != np.float64 or (shape is not None and a.shape != shape):
            raise ValueError(f"{where}: array {name!r} is missing or not float64 of shape {shape}")


def _dmft_from_file(meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> DMFTResult:
    cfg = Config.from_dict(meta["config"])
    T = cfg.steps
    expected = {name: (T,) for name in _DMFT_ARRAYS}
    expected.update({name: (T, T) for name in ("C", "R", "M_C", "M_R")}, changes=None)
    _check_arrays(arrays, expected, where)
    return DMFTResult(
        config=cfg, samples=int(meta["samples"]), seed=int(meta["seed"]), method=str(meta["method"]),
        response_samples=int(meta["response_samples"]), converged=bool(meta["converged"]),
        **{name: arrays[name] for name in _DMFT_ARRAYS},
    )


def _simulation_from_file(meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> SimulationResult:
    cfg = Config.from_dict(meta["config"])
    replicas = int(meta["replicas"])
    expected = {"t": (cfg.steps,), **{name: (replicas, cfg.steps) for name in OBSERVABLES}}
    _check_arrays(arrays, expected, where)
    return SimulationResult(
        config=cfg, d=int(meta["d"]), replicas=replicas, seed=int(meta["seed"]),
        **{name: arrays[name] for name in expected},
    )


#: Readers of the result kinds: (header, arrays, where) -> result. The sweep module adds its own.
READERS: dict[str, Any] = {"simulation": _simulation_from_file, "dmft": _dmft_from_file}


def from_payload(meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> Any:
    """A result from its header and arrays (as written by its ``_payload``)."""
    reader = READERS.get(meta.get("kind"))
    if reader is None:
        raise ValueError(f"{where}: unknown result kind {meta.get('kind')!r}")
    try:
        return reader(meta, arrays, where)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{where}: incomplete header ({exc})") from None


def load(path: str | os.PathLike) -> Any:
    """Reads a result written by ``save`` (DMFTResult, SimulationResult or SweepResult):
    the same class with identical arrays and config.

    Raises ValueError for a file that is not a (complete, untampered) result file.
    """
    meta, arrays = _io.read(path)
    return from_payload(meta, arrays, str(path))
