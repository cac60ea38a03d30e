"""`Config`: every setting of a run (model, loss, optimiser), immutable and validated."""

from __future__ import annotations

import dataclasses
import difflib
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from . import _core
from ._checks import as_float, as_int
from ._errors import wrong_type
from ._typing import dataclass_transform


@dataclass(frozen=True)
class FieldInfo:
    """What the core says of a Config field: its type (bool, int, float or str), whether
    None is allowed, its default and its description."""

    name: str
    kind: type
    optional: bool
    default: Any
    doc: str
    #: Whether a sequence of `kind` (one value per step) is accepted too (``lr``).
    per_step: bool = False
    #: Whether the field is a sequence of `kind` (``second_layer``).
    sequence: bool = False

    @property
    def annotation(self) -> str:
        """The field's type as an annotation, e.g. ``float | None``."""
        if self.sequence:
            text = f"tuple[{self.kind.__name__}, ...]"
        else:
            text = self.kind.__name__ + (f" | tuple[{self.kind.__name__}, ...]" if self.per_step else "")
        return f"{text} | None" if self.optional else text


# The fields, their order, types, defaults and descriptions are Rust's (`FlatConfig`,
# rust/config/flat.rs), so Python and Rust users get the same model and a new field
# needs no Python; `None` is resolved by Rust too (`Config.effective_*` below).
_KINDS = {"bool": bool, "int": int, "float": float, "str": str, "float_or_sequence": float,
          "float_sequence": float}
_DEFAULTS: dict[str, Any] = _core.config_defaults()

#: Every Config field by name, in order: the source of the command line's options.
FIELDS: dict[str, FieldInfo] = {
    name: FieldInfo(name, _KINDS[kind], optional, _DEFAULTS[name], doc, kind == "float_or_sequence",
                    kind == "float_sequence")
    for name, kind, optional, doc in _core.config_fields()
}


@dataclass_transform(frozen_default=True)
def _with_core_fields(cls: type) -> type:
    """Makes `cls` a frozen dataclass whose fields are the core's (`FIELDS`), with their
    defaults and descriptions; its docstring gains the parameter list. The class keeps
    its name, module and methods, so it pickles."""
    fields = [
        (f.name, f.annotation, dataclasses.field(default=f.default, metadata={"doc": f.doc}))
        for f in FIELDS.values()
    ]
    namespace = {k: v for k, v in cls.__dict__.items()
                 if k not in ("__annotations__", "__annotate__", "__dict__", "__weakref__")}
    out = dataclasses.make_dataclass(cls.__name__, fields, namespace=namespace, frozen=True)
    out.__module__, out.__qualname__ = cls.__module__, cls.__qualname__
    out.__doc__ = (cls.__doc__ or "") + "\n    Parameters\n    ----------\n" + "".join(
        f"    {f.name} : {f.annotation.replace(' | ', ' or ')}\n        {f.doc}.\n"
        for f in FIELDS.values()) + _CONFIG_EXAMPLES
    return out


_CONFIG_EXAMPLES = """
    Examples
    --------
    >>> import dmft_sgd as ds
    >>> cfg = ds.Config(batch=0.3, steps=20)
    >>> cfg.effective_tau, cfg.effective_loss      # plain SGD: tau = lr/batch
    (0.33333333333333337, 'logistic')
    >>> cfg.replace(momentum=0.9, nesterov=True).nesterov
    True
    >>> ds.Config(data="teacher", teacher="linear").effective_loss
    'square'
    >>> ds.Config(lr=(0.05, 0.1, 0.1), steps=3).lr  # a schedule: one rate per step
    (0.05, 0.1, 0.1)
    >>> ds.config.format_lr((0.05, 0.2, 0.1))  # as the repr, the CLI and the plots show it
    'schedule(3 steps, 0.05..0.2..0.1)'
    >>> ds.Config(lamda=0.1)
    Traceback (most recent call last):
    ...
    TypeError: unknown Config field(s) ['lamda'] (did you mean 'lam'?); known: [...]
"""


@_with_core_fields
class Config:
    """Settings of one learning problem and its SGD dynamics (theory.md sections 1-2).

    The fields, their defaults, and the values that ``None`` stands for
    (``effective_loss``, ``effective_activation``, ``effective_tau``, ``effective_m0``)
    come from the Rust core's ``Config``; ``to_dict`` is the document Rust's serde form
    uses too. Invalid values raise ValueError (TypeError for wrong types) naming the
    parameter. Equality compares the fields as given: ``tau=None`` and an explicit
    ``tau`` with the same value are different configs with the same dynamics.
    """

    # The fields are generated from the core at import (`_with_core_fields`); type
    # checkers read them here (tests/test_types.py checks these declarations against
    # `_core.config_fields()`: a new core field needs its line here).
    if TYPE_CHECKING:
        data: str = _DEFAULTS["data"]
        clusters: int = _DEFAULTS["clusters"]
        teacher: str = _DEFAULTS["teacher"]
        alpha: float = _DEFAULTS["alpha"]
        delta: float = _DEFAULTS["delta"]
        rho: float = _DEFAULTS["rho"]
        noise: float = _DEFAULTS["noise"]
        loss: str | None = _DEFAULTS["loss"]
        activation: str | None = _DEFAULTS["activation"]
        threshold: float | None = _DEFAULTS["threshold"]
        lam: float = _DEFAULTS["lam"]
        temperature: float = _DEFAULTS["temperature"]
        lr: float | tuple[float, ...] = _DEFAULTS["lr"]
        momentum: float = _DEFAULTS["momentum"]
        nesterov: bool = _DEFAULTS["nesterov"]
        batch: float = _DEFAULTS["batch"]
        tau: float | None = _DEFAULTS["tau"]
        normalize_batch: bool = _DEFAULTS["normalize_batch"]
        steps: int = _DEFAULTS["steps"]
        m0: float | None = _DEFAULTS["m0"]
        q0: float = _DEFAULTS["q0"]
        hidden: int = _DEFAULTS["hidden"]
        second_layer: tuple[float, ...] | None = _DEFAULTS["second_layer"]
        teacher_hidden: int = _DEFAULTS["teacher_hidden"]
        teacher_activation: str = _DEFAULTS["teacher_activation"]

    def __post_init__(self) -> None:
        # Types from the annotations; ranges are checked once, by the core.
        for f in FIELDS.values():
            value = getattr(self, f.name)
            if value is None and f.optional:
                continue
            if f.kind is bool:
                if not isinstance(value, (bool, np.bool_)):
                    raise wrong_type(f.name, value, f"{f.name} must be True or False ({f.doc}), got {value!r}")
                value = bool(value)
            elif f.kind is int:
                value = as_int(f.name, value)
            elif f.sequence:
                if not isinstance(value, (list, tuple, np.ndarray)):
                    raise wrong_type(f.name, value, f"{f.name} must be a sequence of real numbers ({f.doc}), "
                                                    f"got {value!r}")
                items = value.ravel() if isinstance(value, np.ndarray) else value
                value = tuple(as_float(f"{f.name}[{k}]", v) for k, v in enumerate(items))
            elif f.kind is float and f.per_step and isinstance(value, (list, tuple, np.ndarray)):
                # A schedule: one value per step, kept as a tuple (hashable, immutable).
                items = value.ravel() if isinstance(value, np.ndarray) else value
                value = tuple(as_float(f"{f.name}[{k}]", v) for k, v in enumerate(items))
            elif f.kind is float:
                value = as_float(f.name, value)
            elif not isinstance(value, str):
                none = " or None" if f.optional else ""
                raise wrong_type(f.name, value, f"{f.name} must be a string{none} ({f.doc}), got {value!r}")
            object.__setattr__(self, f.name, value)
        _core.validate_config(self.to_dict())

    def __repr__(self) -> str:
        # A schedule is summarised (`format_lr`): 300 rates would bury the other fields.
        def shown(f: FieldInfo) -> str:
            value = getattr(self, f.name)
            return format_lr(value) if f.per_step and isinstance(value, tuple) else repr(value)

        fields = (f"{f.name}={shown(f)}" for f in FIELDS.values())
        return f"Config({', '.join(fields)})"

    # -- resolved defaults (by the core: Config::activation(), tau(), m0()) ------------
    def _effective(self) -> dict[str, Any]:
        return _core.resolve_config(self.to_dict())

    @property
    def effective_loss(self) -> str:
        """The loss in use: ``loss``, or its default for the labels."""
        return str(self._effective()["loss"])

    @property
    def effective_activation(self) -> str:
        """The activation in use: ``activation``, or its default for the data model."""
        return str(self._effective()["activation"])

    @property
    def effective_threshold(self) -> float | None:
        """The door's threshold in use (None for a linear output)."""
        threshold = self._effective()["threshold"]
        return None if threshold is None else float(threshold)

    @property
    def classifies(self) -> bool:
        """Whether labels are ±1 (the mixture, the sign teacher): only then are the
        training and test errors recorded (they are None on the results otherwise)."""
        return bool(self._effective()["classifies"])

    @property
    def effective_tau(self) -> float | None:
        """The persistence time in use: ``tau``, or lr/batch (plain SGD); None for plain
        SGD with a learning-rate schedule, whose tau follows the step (lr_k/batch)."""
        tau = self._effective()["tau"]
        return None if tau is None else float(tau)

    @property
    def effective_m0(self) -> float:
        """The initial overlap in use: ``m0``, or its default for the data model."""
        return float(self._effective()["m0"])

    def resolved(self) -> dict[str, Any]:
        """All fields with the None defaults resolved (the values the core uses)."""
        effective = self._effective()
        out = self.to_dict()
        out.update(
            loss=effective["loss"], activation=effective["activation"], threshold=effective["threshold"],
            tau=effective["tau"], m0=effective["m0"]
        )
        return out

    # -- copies and plain-dict form ----------------------------------------------------
    def replace(self, **changes: Any) -> Config:
        """A copy with some fields changed, validated like a new Config.

        Raises
        ------
        TypeError
            An unknown field (with the closest known name) or a wrong type.
        ValueError
            A value out of range, naming the field.
        """
        check_field_names(changes, error=TypeError)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The fields as given (None kept), e.g. for JSON: a sequence field (``second_layer``)
        as a list, as in Rust's serde document."""
        out = dataclasses.asdict(self)
        for f in FIELDS.values():
            if f.sequence and out[f.name] is not None:
                out[f.name] = list(out[f.name])
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """A Config from a dict as written by `to_dict` or by Rust's serde form of its
        ``Config`` (missing keys take the defaults).

        Raises
        ------
        ValueError
            An unknown key (with the closest known name) or a value out of range.
        """
        if not isinstance(data, dict):
            raise TypeError(f"config must be a dict, got {type(data).__name__}")
        check_field_names(data)
        return cls(**data)


def format_lr(lr: float | Sequence[float]) -> str:
    """A learning rate as a person reads it, wherever a config is shown (its repr, the
    command line's ``config:`` line, plot legends and titles).

    A number is written with ``:g``; a schedule (one rate per step) as
    ``schedule(300 steps, 0.0067..0.2..0.01)``: its first rate, the maximum and the minimum
    where they lie beyond both ends (a warm-up's peak), in the order they occur, and its
    last rate, each to three significant digits; a constant schedule as
    ``schedule(300 steps, 0.1)``.

    Examples
    --------
    >>> format_lr(0.05)
    '0.05'
    >>> format_lr([0.1 * k / 10 for k in range(1, 11)] + [0.1 - 0.009 * k for k in range(1, 11)])
    'schedule(20 steps, 0.01..0.1..0.01)'
    >>> format_lr((0.1, 0.05, 0.01))
    'schedule(3 steps, 0.1..0.01)'
    """
    rates = np.asarray(lr, dtype=float)
    if rates.ndim == 0:
        return f"{float(rates):g}"
    rates = rates.ravel()
    if rates.size == 0:
        return "schedule(0 steps)"
    steps = f"{rates.size} step{'s' if rates.size != 1 else ''}"
    ends = sorted((rates[0], rates[-1]))
    peak, dip = int(np.argmax(rates)), int(np.argmin(rates))
    marks = [0, *sorted(k for k, beyond in ((peak, rates[peak] > ends[1]), (dip, rates[dip] < ends[0])) if beyond)]
    if rates.size > 1 and (len(marks) > 1 or rates[-1] != rates[0]):
        marks.append(rates.size - 1)
    return f"schedule({steps}, {'..'.join(f'{rates[k]:.3g}' for k in marks)})"


def field_names() -> tuple[str, ...]:
    """Names of the Config fields, in order."""
    return tuple(FIELDS)


def check_field_names(
    names: Any, allowed: tuple[str, ...] = (), error: type[Exception] = ValueError, where: str = ""
) -> None:
    """Raises `error` naming the names that are neither Config fields nor `allowed`, with
    the closest known name of each where one is close."""
    known = [*FIELDS, *allowed]
    unknown = sorted(set(names) - set(known))
    if unknown:
        hints = [f"{close[0]!r}" + (f" for {name!r}" if len(unknown) > 1 else "") for name in unknown
                 if (close := difflib.get_close_matches(name, known, n=1))]
        hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
        raise error(f"{where}unknown Config field(s) {unknown}{hint}; known: {known}")


_dataclass_init = Config.__init__


@functools.wraps(_dataclass_init)
def _checked_init(self: Config, *args: Any, **kwargs: Any) -> None:
    # A misspelt keyword gets the known fields and the closest one, not Python's bare
    # "unexpected keyword argument".
    check_field_names(kwargs, error=TypeError)
    _dataclass_init(self, *args, **kwargs)


Config.__init__ = _checked_init  # type: ignore[method-assign]


def as_config(name: str, value: Any) -> Config:
    """A Config argument, or TypeError naming the parameter."""
    if not isinstance(value, Config):
        raise TypeError(f"{name} must be a dmft_sgd.Config, got {type(value).__name__}")
    return value
