"""``to_xarray()`` of the results: labelled arrays (xarray Datasets), behind the
``[xarray]`` extra, which brings a netCDF backend (h5netcdf) so that ``to_netcdf`` works.
The config travels as a JSON string in ``attrs["config"]``, which
``Config.from_dict(json.loads(ds.attrs["config"]))`` restores."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _core

if TYPE_CHECKING:
    import xarray as xr

    from .results import DMFTResult, SimulationResult
    from .sgf import SGFResult
    from .sweep import SweepResult

INSTALL_HINT = "to_xarray() needs xarray: pip install 'dmft-sgd[xarray]'"


def _xr() -> Any:
    try:
        import xarray
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(INSTALL_HINT) from exc
    return xarray


def _attrs(kind: str, config: Any, **extra: Any) -> dict[str, Any]:
    """The attrs every Dataset carries: what it is, the config as JSON, the version, the rest."""
    return {"kind": kind, "config": json.dumps(config.to_dict()),
            "dmft_sgd_version": _core.__version__, **extra}


def dmft(res: DMFTResult) -> xr.Dataset:
    from .results import recorded

    xr_ = _xr()
    variables: dict[str, Any] = {}
    for name in recorded(res.config):
        variables[name] = (("t",), getattr(res, name), {"description": _description(name)})
        sem = getattr(res, f"{name}_sem")
        if sem is not None:
            variables[f"{name}_sem"] = (("t",), sem, {"description": f"Monte Carlo standard error of {name}"})
    variables["C"] = (("t", "t_prime"), res.C, {"description": "weight correlation C(t, t')"})
    variables["R"] = (("t", "t_prime"), res.R, {"description": "weight response R(t, t')"})
    if res.M_C is not None and res.M_R is not None and res.mu is not None:
        variables["M_C"] = (("t", "t_prime"), res.M_C, {"description": "memory kernel M_C(t, t')"})
        variables["M_R"] = (("t", "t_prime"), res.M_R, {"description": "memory kernel M_R(t, t')"})
        variables["mu"] = (("t",), res.mu, {"description": "kernel mu(t)"})
    for name, dims in (("C", ("t", "t_prime")), ("R", ("t", "t_prime")), ("M_C", ("t", "t_prime")),
                       ("M_R", ("t", "t_prime")), ("mu", ("t",))):
        sem = getattr(res, f"{name}_sem")
        if sem is not None:
            variables[f"{name}_sem"] = (dims, sem, {"description": f"Monte Carlo standard error of {name}"})
    if res.changes.size:  # method "iterate" (the single pass has no iterations)
        variables["changes"] = (("iteration",), res.changes,
                                {"description": "largest relative kernel change per iteration"})
        if res.change_noise is not None:
            variables["change_noise"] = (("iteration",), res.change_noise,
                                         {"description": "the change that Monte Carlo noise alone makes"})
    attrs = _attrs("dmft", res.config, seed=res.seed, samples=res.samples, groups=res.groups,
                   method=res.method, response=res.response, band=res.band,
                   response_samples=res.response_samples, converged=int(res.converged))
    ds: xr.Dataset = xr_.Dataset(variables, coords={"t": ("t", res.t), "t_prime": ("t_prime", res.t)},
                                 attrs=attrs)
    return ds


def simulation(res: SimulationResult) -> xr.Dataset:
    from .results import recorded

    xr_ = _xr()
    variables: dict[str, Any] = {}
    for name in recorded(res.config):
        variables[name] = (("replica", "t"), getattr(res, name), {"description": _description(name)})
        variables[f"{name}_mean"] = (("t",), res.mean(name), {"description": f"replica mean of {name}"})
        if res.replicas > 1:
            variables[f"{name}_sem"] = (("t",), res.sem(name),
                                        {"description": f"standard error of {name}_mean"})
    coords = {"replica": ("replica", np.arange(res.replicas)), "t": ("t", res.t)}
    for name, what in (("C", "weight correlation C(t, t')"), ("R", "weight response R(t, t')")):
        if getattr(res, name) is not None:
            coords["t_prime"] = ("t_prime", res.t)
            two_time = ("t", "t_prime")
            variables[name] = (("replica", *two_time), getattr(res, name), {"description": what})
            variables[f"{name}_mean"] = (two_time, res.mean(name), {"description": f"replica mean of {name}"})
            if res.replicas > 1:
                variables[f"{name}_sem"] = (two_time, res.sem(name),
                                            {"description": f"standard error of {name}_mean"})
    attrs = _attrs("simulation", res.config, d=res.d, replicas=res.replicas, seed=res.seed)
    ds: xr.Dataset = xr_.Dataset(variables, coords=coords, attrs=attrs)
    return ds


def sweep(res: SweepResult, at: str | float) -> xr.Dataset:
    from .results import OBSERVABLES

    xr_ = _xr()
    res._check_time(at)
    if res.axes is not None:
        dims = tuple(name for name, _ in res.axes)
        shape = tuple(len(values) for _, values in res.axes)
        coords: dict[str, Any] = {name: (name, _column(values)) for name, values in res.axes}
    else:
        dims, shape = ("point",), (len(res.points),)
        coords = {"point": ("point", np.arange(len(res.points)))}
        for name in sorted({k for p in res.points for k in p}):
            coords[name] = ("point", _column([p.get(name) for p in res.points]))
    variables: dict[str, Any] = {}
    done = [r for r in res.results if r is not None]
    for name in OBSERVABLES:
        if done and all(getattr(r, name) is None for r in done):
            continue  # not recorded by any point (a classification error, regression teachers)
        when = "final value" if at == "final" else f"value at t = {at}"
        variables[name] = (dims, res.array(name, at), {"description": f"{when} of {name}"})
        variables[f"{name}_sem"] = (dims, res.array(name, at, sem=True),
                                    {"description": f"standard error of {name} (NaN: none reported)"})
    status = res.status or ["failed" if r is None else "computed" for r in res.results]
    variables["seed"] = (dims, np.array(res.seeds, dtype=np.uint64).reshape(shape))
    variables["status"] = (dims, np.array(status, dtype=str).reshape(shape))
    attrs = {"kind": "sweep", "sweep_kind": res.kind, "base_config": json.dumps(res.base_config.to_dict()),
             "at": at, "failures": len(res.failures), "dmft_sgd_version": _core.__version__}
    ds: xr.Dataset = xr_.Dataset(variables, coords=coords, attrs=attrs)
    return ds


def sgf(res: SGFResult) -> xr.Dataset:
    xr_ = _xr()
    variables: dict[str, Any] = {}
    spread = res.groups > 1
    for name in res.observables:
        variables[name] = (("t",), res.mean(name), {"description": f"limit lr -> 0 of {name}: {_description(name)}"})
        if spread:
            variables[f"{name}_sem"] = (("t",), res.sem(name), {"description": f"Monte Carlo standard error of {name}"})
        variables[f"{name}_discretisation_error"] = (
            ("t",), res.discretisation_error(name),
            {"description": f"order {res.order} minus order {res.order - 1} extrapolation of {name}"})
        variables[f"{name}_levels"] = (("lr", "t"), np.stack([res.level(name, i) for i in range(len(res.lrs))]),
                                       {"description": f"{name} at each level of the ladder"})
    attrs = _attrs("sgf", res.config, order=res.order, samples=res.samples, groups=res.groups, seed=res.seed)
    ds: xr.Dataset = xr_.Dataset(variables, coords={"t": ("t", res.t), "lr": ("lr", np.asarray(res.lrs))},
                                 attrs=attrs)
    return ds


def _column(values: list[Any]) -> np.ndarray:
    """A coordinate's values: numbers or strings as such; numbers with None among them
    (``tau=None``, plain SGD; a field a point leaves unchanged) as floats with NaN for
    None, so that the coordinate is numeric and netCDF stores it; anything else mixed as
    objects."""
    kinds = {type(v) for v in values}
    if kinds <= {int, float} or kinds <= {str} or kinds == {bool}:
        return np.asarray(values)
    if kinds <= {int, float, type(None)}:
        return np.array([np.nan if v is None else v for v in values], dtype=float)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _description(name: str) -> str:
    from .results import DESCRIPTIONS

    return DESCRIPTIONS[name]
