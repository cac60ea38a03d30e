"""dmft-sgd: the dynamical mean-field theory of SGD on single-layer networks (Gaussian
mixtures, teacher-student models, phase retrieval; SGD, persistent SGD, Langevin noise).

Quick start::

    import dmft_sgd as ds
    cfg = ds.Config(alpha=2.0, delta=0.5, lam=0.1, lr=0.2, batch=0.3, steps=200)
    sim = ds.simulate(cfg, d=1000, replicas=16, seed=0)
    sim.mean("test_error"), sim.sem("test_error")
    res = ds.solve_dmft(cfg, samples=20_000, seed=0)          # d -> infinity
    res.test_error, res.C, res.M_R
"""

from ._core import DivergenceError, InvalidParameterError
from ._core import __version__ as __version__
from .config import Config
from .dmft import solve_dmft
from .fdt import FDTCurve, fdt
from .network import NetworkDMFTResult, NetworkResult, NetworkTrajectoryResult
from .results import OBSERVABLES, DMFTResult, SimulationResult, TrajectoryResult, load
from .sgf import SGFResult, sgf
from .simulation import minibatch_chain, sgd_trajectory, simulate, test_observables
from .sweep import SweepResult, point_seed, sweep

__all__ = [
    "Config",
    "DMFTResult",
    "DivergenceError",
    "FDTCurve",
    "InvalidParameterError",
    "NetworkDMFTResult",
    "NetworkResult",
    "NetworkTrajectoryResult",
    "OBSERVABLES",
    "SGFResult",
    "SimulationResult",
    "SweepResult",
    "TrajectoryResult",
    "fdt",
    "load",
    "minibatch_chain",
    "point_seed",
    "sgf",
    "sgd_trajectory",
    "simulate",
    "solve_dmft",
    "sweep",
    "test_observables",
]
