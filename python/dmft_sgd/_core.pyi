"""Type stubs of the compiled module `dmft_sgd._core` (see rust/python.rs)."""

from typing import Any, Callable

import numpy as np
import numpy.typing as npt

__version__: str

class DivergenceError(RuntimeError): ...

def validate_config(config: dict[str, Any]) -> None: ...
def config_defaults() -> dict[str, Any]: ...
def resolve_config(config: dict[str, Any]) -> dict[str, Any]: ...
def simulate(
    config: dict[str, Any],
    d: int,
    replicas: int,
    seed: int,
    threads: int | None = None,
    progress: Callable[[int], Any] | None = None,
) -> dict[str, npt.NDArray[np.float64]]: ...
def solve_dmft(
    config: dict[str, Any],
    samples: int,
    seed: int,
    threads: int | None = None,
    method: str = "single",
    response_samples: int | None = None,
    iterations: int = 50,
    damping: float = 0.5,
    tol: float = 1e-3,
    progress: Callable[[int], Any] | None = None,
) -> dict[str, Any]: ...
def sgd_trajectory(
    config: dict[str, Any],
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    v_star: npt.NDArray[np.float64],
    w0: npt.NDArray[np.float64],
    seed: int,
    batches: npt.NDArray[np.bool_] | None = None,
) -> dict[str, npt.NDArray[np.float64]]: ...
def minibatch_chain(config: dict[str, Any], n: int, seed: int) -> npt.NDArray[np.bool_]: ...
def measure_bandwidth(nbytes: int = ..., threads: int | None = None, repeats: int = 5) -> float: ...
