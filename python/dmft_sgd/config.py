"""`Config`: every setting of a run (model, loss, optimiser), immutable and validated."""

from __future__ import annotations

import dataclasses
import difflib
import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _core
from ._checks import as_float, as_int

# The defaults are Rust's `Config::default()` (rust/config.rs), so Python and Rust users
# get the same model; `None` is resolved by Rust too (`Config.effective_*` below).
_DEFAULTS: dict[str, Any] = _core.config_defaults()


def _setting(name: str, doc: str) -> Any:
    """A Config field: Rust's default, and its one-line description (the docstring's
    parameter list and the command line's help are made from it)."""
    return dataclasses.field(default=_DEFAULTS[name], metadata={"doc": doc})


@dataclass(frozen=True)
class Config:
    """Settings of one learning problem and its SGD dynamics (theory.md sections 1-2).

    The defaults, and the values that ``None`` stands for (``effective_loss``,
    ``effective_activation``, ``effective_tau``, ``effective_m0``), come from the Rust
    core's ``Config``.
    Invalid values raise ValueError (TypeError for wrong types) naming the parameter.
    Equality compares the fields as given: ``tau=None`` and an explicit ``tau`` with
    the same value are different configs with the same dynamics.
    """

    data: str = _setting(
        "data", "'mixture' (the Gaussian mixture of `clusters`) or 'teacher' (x ~ N(0, I), "
        "labels from the teacher field h0 = v*.x/sqrt(d), see `teacher`)")
    clusters: int = _setting(
        "clusters", "mixture: 2 (labels y = c = ±1) or 3 (c = -1, 0, +1; label +1 for the "
        "outer clusters)")
    teacher: str = _setting(
        "teacher", "data='teacher': 'sign' (y = sign(h0 + sqrt(noise) eps)), 'linear' "
        "(y = h0 + sqrt(noise) eps) or 'square' (y = h0^2 + sqrt(noise) eps, phase retrieval)")
    alpha: float = _setting("alpha", "sample ratio n/d > 0")
    delta: float = _setting("delta", "mixture: cluster variance Delta > 0")
    rho: float = _setting("rho", "three clusters only: mass of the two outer clusters, 0 < rho < 1")
    noise: float = _setting("noise", "data='teacher': label noise variance >= 0")
    loss: str | None = _setting(
        "loss", "'logistic' (labels ±1 only) or 'square'; None: logistic for labels ±1 (the "
        "mixture, the sign teacher), square for real-valued labels (linear and square teachers)")
    activation: str | None = _setting(
        "activation", "'linear' (o = h) or 'door' (o = h^2 - threshold); None: the door for "
        "three clusters and the square teacher, else linear")
    threshold: float | None = _setting(
        "threshold", "door threshold theta >= 0 (o = h^2 - theta); None: 0 for the square "
        "teacher (o = h^2), else 1")
    lam: float = _setting("lam", "ridge lambda >= 0")
    temperature: float = _setting(
        "temperature", "Langevin temperature >= 0: each step adds sqrt(2 lr temperature) "
        "N(0, I) to w")
    lr: float = _setting("lr", "learning rate eta, which is the time step dt > 0")
    batch: float = _setting("batch", "batch fraction b in (0, 1]; 1 is full-batch gradient descent")
    tau: float | None = _setting(
        "tau", "persistence time of the mini-batch chain, >= max(lr, lr (1-b)/b); None: plain "
        "SGD, tau = lr/batch (a fresh batch every step)")
    normalize_batch: bool = _setting(
        "normalize_batch", "weight a sample in the batch by 1/batch, so that the expected "
        "stochastic gradient is the full-batch one")
    steps: int = _setting("steps", "number of time steps T >= 1; results have length T")
    m0: float | None = _setting(
        "m0", "initial overlap; None: 0.1 where m = 0 is an unstable fixed point (three "
        "clusters, the square teacher), else 0")
    q0: float = _setting("q0", "initial |w_perp|^2/d > 0")

    def __post_init__(self) -> None:
        # Types from the annotations; ranges are checked once, by the core.
        for f in FIELDS.values():
            value = getattr(self, f.name)
            if value is None and f.optional:
                continue
            if f.kind is bool:
                if not isinstance(value, (bool, np.bool_)):
                    raise TypeError(f"{f.name} must be True or False ({f.doc}), got {value!r}")
                value = bool(value)
            elif f.kind is int:
                value = as_int(f.name, value)
            elif f.kind is float:
                value = as_float(f.name, value)
            elif not isinstance(value, str):
                none = " or None" if f.optional else ""
                raise TypeError(f"{f.name} must be a string{none} ({f.doc}), got {value!r}")
            object.__setattr__(self, f.name, value)
        _core.validate_config(self.to_dict())

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
    def effective_tau(self) -> float:
        """The persistence time in use: ``tau``, or lr/batch (plain SGD)."""
        return float(self._effective()["tau"])

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
        """A copy with some fields changed (validated like a new Config)."""
        check_field_names(changes, error=TypeError)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The fields as given (None kept), e.g. for JSON."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """A Config from a dict as written by `to_dict` (missing keys take defaults)."""
        if not isinstance(data, dict):
            raise TypeError(f"config must be a dict, got {type(data).__name__}")
        check_field_names(data)
        return cls(**data)


@dataclass(frozen=True)
class FieldInfo:
    """What Config's own definition says of a field: its type (bool, int, float or str), whether
    None is allowed, its default and its description."""

    name: str
    kind: type
    optional: bool
    default: Any
    doc: str


def _field_info(f: dataclasses.Field) -> FieldInfo:
    types = [t.strip() for t in str(f.type).split("|")]
    kinds = {"bool": bool, "int": int, "float": float, "str": str}
    return FieldInfo(f.name, kinds[types[0]], "None" in types, f.default, f.metadata["doc"])


#: Every Config field by name, in order: the source of the command line's options.
FIELDS: dict[str, FieldInfo] = {f.name: _field_info(f) for f in dataclasses.fields(Config)}

Config.__doc__ = (Config.__doc__ or "") + "\n    Parameters\n    ----------\n" + "".join(
    f"    {i.name} : {i.kind.__name__}{' or None' if i.optional else ''}\n        {i.doc}.\n"
    for i in FIELDS.values()
)


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
