"""Type stubs of the compiled module `dmft_sgd._core` (see rust/python.rs).

Checked against the built module by ``python -m mypy.stubtest dmft_sgd._core`` in CI.
"""

from typing import Any, Callable, final

import numpy as np
import numpy.typing as npt

_F64 = npt.NDArray[np.float64]

__all__ = [
    "DivergenceError",
    "InvalidParameterError",
    "DmftSolution",
    "Ensemble",
    "KEEP_GROUPS_ENTRIES",
    "OBSERVABLES",
    "Trajectory",
    "__version__",
    "config_defaults",
    "config_fields",
    "dmft_defaults",
    "groups_for",
    "measure_bandwidth",
    "minibatch_chain",
    "network_trajectory",
    "test_observables",
    "times",
    "resolve_config",
    "ladder_steps",
    "richardson_weights",
    "sgd_trajectory",
    "simulate",
    "simulate_network",
    "solve_dmft",
    "solve_dmft_ladder",
    "solve_network_dmft",
    "step_at",
    "step_costs",
    "validate_config",
]

__version__: str
#: The observables the engines record, in order: (name, plot label, description,
#: whether it needs labels ±1).
OBSERVABLES: tuple[tuple[str, str, str, bool], ...]
#: By default each group's C and R are kept while groups * T^2 is at most this.
KEEP_GROUPS_ENTRIES: int

class DivergenceError(RuntimeError):
    run: str
    step: int
    observable: str
    value: float | None
    bound: float | None
    lr: float

class InvalidParameterError(ValueError):
    parameter: str
    value: Any

@final
class DmftSolution:
    """What `solve_dmft` returns: the DMFT's arrays, read-only attributes."""

    @property
    def t(self) -> _F64: ...
    @property
    def observables(self) -> dict[str, _F64 | None]: ...
    @property
    def sem(self) -> dict[str, _F64 | None] | None: ...
    @property
    def C(self) -> _F64: ...
    @property
    def R(self) -> _F64: ...
    @property
    def M_C(self) -> _F64 | None: ...
    @property
    def M_R(self) -> _F64 | None: ...
    @property
    def mu(self) -> _F64 | None: ...
    @property
    def two_time_sem(self) -> dict[str, _F64 | None] | None: ...
    @property
    def group_observables(self) -> dict[str, _F64 | None]: ...
    @property
    def C_groups(self) -> _F64 | None: ...
    @property
    def R_groups(self) -> _F64 | None: ...
    @property
    def changes(self) -> _F64: ...
    @property
    def change_noise(self) -> _F64: ...
    @property
    def converged(self) -> bool: ...
    @property
    def response(self) -> str: ...
    @property
    def band(self) -> int: ...
    @property
    def groups(self) -> int: ...
    @property
    def stage_seconds(self) -> dict[str, float]: ...

@final
class Ensemble:
    """What `simulate` returns: each observable, shape (replicas, T); C and R, shape
    (replicas, T, T), None unless recorded."""

    @property
    def t(self) -> _F64: ...
    @property
    def observables(self) -> dict[str, _F64 | None]: ...
    @property
    def C(self) -> _F64 | None: ...
    @property
    def R(self) -> _F64 | None: ...

@final
class Trajectory:
    """What `sgd_trajectory` returns: each observable, shape (T,), and the final weights."""

    @property
    def t(self) -> _F64: ...
    @property
    def observables(self) -> dict[str, _F64 | None]: ...
    @property
    def w(self) -> _F64: ...

def validate_config(config: dict[str, Any]) -> None: ...
def config_defaults() -> dict[str, Any]: ...
def config_fields() -> list[tuple[str, str, bool, str]]: ...
def dmft_defaults() -> dict[str, Any]: ...
def resolve_config(config: dict[str, Any]) -> dict[str, Any]: ...
def simulate(
    config: dict[str, Any],
    *,
    d: int,
    replicas: int,
    seed: int,
    threads: int | None = None,
    progress: Callable[[int], object] | None = None,
    record_two_time: bool = False,
) -> Ensemble: ...
def solve_dmft(
    config: dict[str, Any],
    *,
    samples: int,
    groups: int | None,
    seed: int,
    threads: int | None,
    method: str,
    response: str,
    band: int,
    response_samples: int | None,
    keep_kernels: bool,
    iterations: int,
    damping: float,
    tol: float,
    keep_groups: bool | None = None,
    progress: Callable[[int], object] | None = None,
) -> DmftSolution: ...
def groups_for(config: dict[str, Any], *, samples: int, groups: int | None, response_samples: int | None) -> int: ...
def ladder_steps(config: dict[str, Any], *, lrs: list[float]) -> list[int]: ...
def richardson_weights(lrs: list[float], order: int) -> list[float]: ...
def solve_dmft_ladder(
    config: dict[str, Any],
    *,
    lrs: list[float],
    samples: int,
    groups: int | None,
    seed: int,
    threads: int | None,
    response: str,
    band: int,
    response_samples: int | None,
    keep_kernels: bool,
    keep_groups: bool = False,
    progress: Callable[[int], object] | None = None,
) -> list[DmftSolution]: ...
def sgd_trajectory(
    config: dict[str, Any],
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    v_star: npt.NDArray[np.float64],
    w0: npt.NDArray[np.float64],
    *,
    seed: int,
    batches: npt.NDArray[np.bool_] | None = None,
    langevin_noise: npt.NDArray[np.float64] | None = None,
    x_test: npt.NDArray[np.float64] | None = None,
    y_test: npt.NDArray[np.float64] | None = None,
) -> Trajectory: ...
def network_trajectory(
    config: dict[str, Any],
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    v_star: npt.NDArray[np.float64],
    w0: npt.NDArray[np.float64],
    *,
    seed: int,
    batches: npt.NDArray[np.bool_] | None = None,
    langevin_noise: npt.NDArray[np.float64] | None = None,
    x_test: npt.NDArray[np.float64] | None = None,
    y_test: npt.NDArray[np.float64] | None = None,
) -> dict[str, _F64 | None]: ...
def test_observables(config: dict[str, Any], *, m: float, q: float) -> tuple[float, float | None]: ...
def minibatch_chain(config: dict[str, Any], *, n: int, seed: int) -> npt.NDArray[np.bool_]: ...
def measure_bandwidth(
    nbytes: int = ..., threads: int | None = None, repeats: int = 5
) -> float: ...
def times(config: dict[str, Any]) -> _F64: ...
def step_at(config: dict[str, Any], *, t: float) -> int | None: ...
def step_costs(config: dict[str, Any], *, samples: int, groups: int | None, response_samples: int | None,
               response: str, band: int) -> _F64: ...
def simulate_network(
    config: dict[str, Any],
    *,
    d: int,
    replicas: int,
    seed: int,
    threads: int | None = None,
    progress: Callable[[int], Any] | None = None,
    target: Callable[[_F64, _F64], Any] | None = None,
    record_two_time: bool = False,
) -> dict[str, _F64 | None]: ...
def solve_network_dmft(
    config: dict[str, Any],
    *,
    samples: int,
    groups: int,
    seed: int,
    threads: int | None = None,
    response: str = "auto",
    progress: Callable[[int], Any] | None = None,
    target: Callable[[_F64, _F64], Any] | None = None,
    keep_two_time: bool | None = None,
) -> dict[str, _F64 | None]: ...
