"""Argument checks shared by the public functions: each error names the parameter."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ._errors import invalid, wrong_type

_U64_MAX = 2**64 - 1

#: The core's wording of a rule it checks itself (rust/dmft/checks.rs), for the arguments
#: that Python bounds first (a negative count never reaches the core's unsigned integer):
#: one message, whichever side refuses the value.
CORE_RULES = {"samples": "must be an even number >= 2 (samples come in mirror pairs)"}


def as_int(name: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer argument (Python or numpy int, not bool) within [minimum, maximum]; out of
    range, the message states the core's rule where it has one (`CORE_RULES`)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise wrong_type(name, value, f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    number = int(value)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        if name in CORE_RULES:
            raise invalid(name, value, f"{name} {CORE_RULES[name]}, got {number}")
        if minimum is not None and number < minimum:
            raise invalid(name, value, f"{name} must be >= {minimum}, got {number}")
        raise invalid(name, value, f"{name} must be <= {maximum}, got {number}")
    return number


def as_float(name: str, value: Any) -> float:
    """A real-number argument (int or float, not bool or str); ranges are checked by the core."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise wrong_type(name, value, f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    return float(value)


def as_seed(value: Any) -> int:
    """A seed: an integer in [0, 2**64)."""
    return as_int("seed", value, 0, _U64_MAX)


def as_threads(value: Any) -> int | None:
    """None (all cores) or a positive thread count."""
    return None if value is None else as_int("threads", value, 1, 4096)


def as_float_array(name: str, value: Any, ndim: int) -> np.ndarray:
    """A C-contiguous float64 array of `ndim` dimensions (copied only if needed)."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise wrong_type(name, value, f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise invalid(name, None, f"{name} must be a {ndim}-D array, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def as_batch_mask(batches: Any, steps: int, n: int) -> np.ndarray | None:
    """None, or a C-contiguous boolean (steps, n) batch mask."""
    if batches is None:
        return None
    mask = np.asarray(batches)
    if mask.dtype != np.bool_:
        raise wrong_type("batches", batches, f"batches must be a boolean array, got dtype {mask.dtype}")
    if mask.shape != (steps, n):
        raise invalid("batches", None, f"batches must have shape (steps, n) = ({steps}, {n}), got {mask.shape}")
    return np.ascontiguousarray(mask)


def as_test_set(X_test: Any, y_test: Any, d: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Both None, or a held-out set: rows (n_test, d) and their labels (n_test,)."""
    if (X_test is None) != (y_test is None):
        raise invalid("X_test", None, "X_test and y_test go together: give both or neither")
    if X_test is None:
        return None, None
    X_test = as_float_array("X_test", X_test, 2)
    y_test = as_float_array("y_test", y_test, 1)
    if X_test.shape != (y_test.shape[0], d):
        raise invalid("X_test", None, f"X_test must have shape (n_test, d) = ({y_test.shape[0]}, {d}), "
                      f"got {X_test.shape}")
    return X_test, y_test
