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
        meta = {"config": self.config.to_dict(), "d": self.d, "replicas": self.replicas, "seed": self.seed}
        arrays = {name: getattr(self, name) for name in ("t", *OBSERVABLES)}
        return _io.write(path, "simulation", meta, arrays)

    def __repr__(self) -> str:
        return (
            f"SimulationResult(d={self.d}, replicas={self.replicas}, seed={self.seed}, "
            f"steps={self.t.size}, config={self.config!r})"
        )


def _simulation_from_file(meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> SimulationResult:
    cfg = Config.from_dict(meta["config"])
    replicas = int(meta["replicas"])
    expected = {"t": (cfg.steps,), **{name: (replicas, cfg.steps) for name in OBSERVABLES}}
    for name, shape in expected.items():
        if name not in arrays or arrays[name].shape != shape or arrays[name].dtype != np.float64:
            raise ValueError(f"{where}: array {name!r} is missing or not float64 of shape {shape}")
    return SimulationResult(
        config=cfg, d=int(meta["d"]), replicas=replicas, seed=int(meta["seed"]),
        **{name: arrays[name] for name in expected},
    )


_READERS = {"simulation": _simulation_from_file}


def load(path: str | os.PathLike) -> SimulationResult:
    """Reads a result written by ``save``: the same class with identical arrays and config.

    Raises ValueError for a file that is not a (complete, untampered) result file.
    """
    meta, arrays = _io.read(path)
    reader = _READERS.get(meta.get("kind"))
    if reader is None:
        raise ValueError(f"{path}: unknown result kind {meta.get('kind')!r}")
    try:
        return reader(meta, arrays, str(path))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: incomplete header ({exc})") from None
