"""`Config`: every setting of a run (model, loss, optimiser), immutable and validated."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from . import _core
from ._checks import as_float, as_int

_FLOAT_FIELDS = ("alpha", "delta", "rho", "threshold", "lam", "lr", "batch", "q0")
_OPTIONAL_FLOAT_FIELDS = ("tau", "m0")

# The defaults are Rust's `Config::default()` (rust/config.rs), so Python and Rust users
# get the same model; `None` is resolved by Rust too (`Config.effective_*` below).
_DEFAULTS: dict[str, Any] = _core.config_defaults()


@dataclass(frozen=True)
class Config:
    """Settings of one learning problem and its SGD dynamics (theory.md sections 1-2).

    Parameters
    ----------
    clusters : int
        2 (labels y = c = ±1) or 3 (c = -1, 0, +1; label +1 for the outer clusters).
    alpha : float
        Sample ratio n/d > 0.
    delta : float
        Cluster variance Delta > 0.
    rho : float
        Three clusters only: mass of the two outer clusters, 0 < rho < 1.
    loss : str
        "logistic" or "square".
    activation : str or None
        "linear" (o = h) or "door" (o = h^2 - threshold). None picks "linear" for two
        clusters and "door" for three (the door with this ``threshold``).
    threshold : float
        Door threshold L > 0.
    lam : float
        Ridge lambda >= 0.
    lr : float
        Learning rate eta, which is the time step dt > 0.
    batch : float
        Batch fraction b in (0, 1]; 1 is full-batch gradient descent.
    tau : float or None
        Persistence time of the mini-batch chain, >= max(lr, lr (1-b)/b). None is plain
        SGD, tau = lr / batch (a fresh batch every step).
    steps : int
        Number of time steps T >= 1; results have length T.
    m0 : float or None
        Initial overlap; None picks 0 for two clusters and 0.1 for three (m = 0 is an
        unstable fixed point there).
    q0 : float
        Initial |w_perp|^2/d > 0.

    The defaults, and the values that ``None`` stands for (``effective_activation``,
    ``effective_tau``, ``effective_m0``), come from the Rust core's ``Config``.
    Invalid values raise ValueError (TypeError for wrong types) naming the parameter.
    Equality compares the fields as given: ``tau=None`` and an explicit ``tau`` with
    the same value are different configs with the same dynamics.
    """

    clusters: int = _DEFAULTS["clusters"]
    alpha: float = _DEFAULTS["alpha"]
    delta: float = _DEFAULTS["delta"]
    rho: float = _DEFAULTS["rho"]
    loss: str = _DEFAULTS["loss"]
    activation: str | None = _DEFAULTS["activation"]
    threshold: float = _DEFAULTS["threshold"]
    lam: float = _DEFAULTS["lam"]
    lr: float = _DEFAULTS["lr"]
    batch: float = _DEFAULTS["batch"]
    tau: float | None = _DEFAULTS["tau"]
    steps: int = _DEFAULTS["steps"]
    m0: float | None = _DEFAULTS["m0"]
    q0: float = _DEFAULTS["q0"]

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "clusters", as_int("clusters", self.clusters))
        set_(self, "steps", as_int("steps", self.steps))
        for name in _FLOAT_FIELDS:
            set_(self, name, as_float(name, getattr(self, name)))
        for name in _OPTIONAL_FLOAT_FIELDS:
            if getattr(self, name) is not None:
                set_(self, name, as_float(name, getattr(self, name)))
        if not isinstance(self.loss, str):
            raise TypeError(f"loss must be a string ('logistic' or 'square'), got {self.loss!r}")
        if self.activation is not None and not isinstance(self.activation, str):
            raise TypeError(
                f"activation must be None, 'linear' or 'door', got {self.activation!r}"
            )
        # Ranges are checked once, by the core, so Python and Rust users get the same rules.
        _core.validate_config(self.to_dict())

    # -- resolved defaults (by the core: Config::activation(), tau(), m0()) ------------
    def _effective(self) -> dict[str, Any]:
        return _core.resolve_config(self.to_dict())

    @property
    def effective_activation(self) -> str:
        """The activation in use: ``activation``, or its default for ``clusters``."""
        return str(self._effective()["activation"])

    @property
    def effective_tau(self) -> float:
        """The persistence time in use: ``tau``, or lr/batch (plain SGD)."""
        return float(self._effective()["tau"])

    @property
    def effective_m0(self) -> float:
        """The initial overlap in use: ``m0``, or its default for ``clusters``."""
        return float(self._effective()["m0"])

    def resolved(self) -> dict[str, Any]:
        """All fields with the None defaults resolved (the values the core uses)."""
        effective = self._effective()
        out = self.to_dict()
        out.update(
            activation=effective["activation"], tau=effective["tau"], m0=effective["m0"]
        )
        return out

    # -- copies and plain-dict form ----------------------------------------------------
    def replace(self, **changes: Any) -> Config:
        """A copy with some fields changed (validated like a new Config)."""
        unknown = sorted(set(changes) - set(field_names()))
        if unknown:
            raise TypeError(f"unknown Config field(s) {unknown}; known: {list(field_names())}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The fields as given (None kept), e.g. for JSON."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """A Config from a dict as written by `to_dict` (missing keys take defaults)."""
        if not isinstance(data, dict):
            raise TypeError(f"config must be a dict, got {type(data).__name__}")
        unknown = sorted(set(data) - set(field_names()))
        if unknown:
            raise ValueError(f"unknown Config field(s) {unknown}; known: {list(field_names())}")
        return cls(**data)


def field_names() -> tuple[str, ...]:
    """Names of the Config fields, in order."""
    return tuple(f.name for f in dataclasses.fields(Config))


def as_config(name: str, value: Any) -> Config:
    """A Config argument, or TypeError naming the parameter."""
    if not isinstance(value, Config):
        raise TypeError(f"{name} must be a dmft_sgd.Config, got {type(value).__name__}")
    return value
