"""The package's errors carry their facts as fields, so callers read them instead of
parsing messages: `InvalidParameterError` (a ValueError: ``parameter``, ``value``) and
`DivergenceError` (a RuntimeError: ``run``, ``step``, ``observable``, ``value``,
``bound``, ``lr``), both raised by the core through the binding, and by the package's own
checks with the same fields."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._core import DivergenceError, InvalidParameterError

__all__ = ["DivergenceError", "InvalidParameterError", "invalid", "wrong_type", "values_named"]


def invalid(parameter: str, value: Any, message: str) -> InvalidParameterError:
    """The refusal of `value` for `parameter`; `message` starts with the parameter's name."""
    exc = InvalidParameterError(message)
    exc.parameter, exc.value = parameter, value
    return exc


def wrong_type(parameter: str, value: Any, message: str) -> TypeError:
    """A TypeError naming `parameter` in its ``parameter`` field too."""
    exc = TypeError(message)
    exc.parameter, exc.value = parameter, value  # type: ignore[attr-defined]
    return exc


@contextmanager
def values_named(**values: Any) -> Iterator[None]:
    """Inside: a refusal of one of these parameters that does not know the value it
    refused (the core's refusals of options) gets it from here."""
    try:
        yield
    except InvalidParameterError as exc:
        if exc.value is None and exc.parameter in values:
            exc.value = values[exc.parameter]
        raise
