"""Typing helpers that cost nothing at run time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform as dataclass_transform
else:
    def dataclass_transform(**_: Any) -> Any:
        """PEP 681's marker (``typing.dataclass_transform`` from Python 3.11, with
        ``frozen_default`` from 3.12): tells type checkers that a decorator makes
        dataclasses, whose fields they read from the class body (the result classes and
        Config declare their generated fields under ``if TYPE_CHECKING:``; tests/test_types.py
        checks those declarations against the registry). At run time it does nothing."""
        return lambda decorator: decorator
