"""The fields that type checkers see are the ones generated at import.

The result classes and Config get their fields from the Rust registry at import
(`_with_observables`, `_with_core_fields`); type checkers cannot run that, so each class
declares the generated fields under ``if TYPE_CHECKING:``. These tests read those
declarations from the source and check them against the registry (``ds.OBSERVABLES``,
``_core.config_fields()``) and against the runtime dataclasses (names, order, annotation
text, which have a default), so the declarations cannot drift.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect

import pytest

import dmft_sgd as ds
from dmft_sgd import _core, config, results


def _static_fields(module, name: str) -> list[tuple[str, str, bool]]:
    """(name, annotation, has a default) of the annotated names in the body of class
    `name` as a type checker reads them: the class's own annotations and those under
    ``if TYPE_CHECKING:``, in source order."""
    tree = ast.parse(inspect.getsource(module))
    (cls,) = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == name]

    def walk(body: list[ast.stmt]) -> list[tuple[str, str, bool]]:
        out = []
        for stmt in body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                out.append((stmt.target.id, ast.unparse(stmt.annotation), stmt.value is not None))
            elif isinstance(stmt, ast.If):
                assert ast.unparse(stmt.test) == "TYPE_CHECKING" and not stmt.orelse, (
                    f"{name}: only `if TYPE_CHECKING:` blocks may declare fields")
                out += walk(stmt.body)
        return out

    return walk(cls.body)


def _type_checking_fields(module, name: str) -> list[str]:
    """The names declared under ``if TYPE_CHECKING:`` in class `name`."""
    tree = ast.parse(inspect.getsource(module))
    (cls,) = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == name]
    return [stmt.target.id for block in cls.body
            if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
            for stmt in block.body
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)]


def _runtime_fields(cls: type) -> list[tuple[str, str, bool]]:
    return [(f.name, str(f.type), f.default is not dataclasses.MISSING)
            for f in dataclasses.fields(cls)]


@pytest.mark.parametrize("cls, sem", [
    (ds.DMFTResult, True), (ds.SimulationResult, False), (ds.TrajectoryResult, False)])
def test_result_declarations_are_the_registry(cls: type, sem: bool) -> None:
    observables = list(ds.OBSERVABLES)
    assert observables == [entry[0] for entry in _core.OBSERVABLES]
    expected = observables + ([f"{o}_sem" for o in observables] if sem else [])
    assert _type_checking_fields(results, cls.__name__) == expected
    assert _static_fields(results, cls.__name__) == _runtime_fields(cls)


def test_config_declarations_are_the_core_fields() -> None:
    core = [(name, config.FIELDS[name].annotation, True) for name, *_ in _core.config_fields()]
    assert config.FIELDS["lr"].annotation == "float | tuple[float, ...]"
    assert config.FIELDS["tau"].annotation == "float | None"
    assert _static_fields(config, "Config") == core
    assert _type_checking_fields(config, "Config") == [name for name, _, _ in core]
    assert _runtime_fields(ds.Config) == core


def test_the_declared_defaults_do_not_run() -> None:
    # The TYPE_CHECKING blocks never run: Config's defaults are the core's, and the
    # results' observables have no class-level value.
    assert ds.Config().to_dict() == _core.config_defaults()
    assert not any(o in vars(cls) for o in ds.OBSERVABLES
                   for cls in (ds.DMFTResult, ds.SimulationResult, ds.TrajectoryResult))
