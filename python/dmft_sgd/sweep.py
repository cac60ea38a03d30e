"""Parameter sweeps: many DMFT solves or simulation ensembles over a grid of Config
values, on a local pool or any executor (thread or process pool, dask.distributed)."""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import itertools
import json
import os
import shutil
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, cast

import numpy as np

from . import _core, _io
from ._checks import as_seed
from ._progress import Bar
from ._store import PointStore
from .config import Config, as_config, check_field_names
from .dmft import solve_dmft
from .results import OBSERVABLES, READERS, _pandas, check_recorded, from_payload
from .simulation import simulate

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

DivergenceError = _core.DivergenceError

KINDS = ("dmft", "simulate")


def point_seed(base_seed: int, changes: Mapping[str, Any]) -> int:
    """The seed of one sweep point: a hash of the base seed and the point's changes, so a
    sweep is reproducible and any point can be re-run alone with the same numbers.

    Parameters
    ----------
    base_seed : int
        The sweep's ``seed``.
    changes : mapping
        The point's changes to the base config, e.g. ``{"batch": 0.3}``.

    Returns
    -------
    int
        A seed in [0, 2**64), independent of the order of `changes`.

    Examples
    --------
    >>> import dmft_sgd as ds
    >>> ds.point_seed(0, {"batch": 0.3})
    8746888106504390564
    >>> ds.point_seed(0, {"batch": 0.3, "lam": 0.1}) == ds.point_seed(0, {"lam": 0.1, "batch": 0.3})
    True
    """
    text = json.dumps({"seed": int(base_seed), "changes": dict(sorted(changes.items()))}, sort_keys=True)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def run_point(kind: str, config: dict[str, Any], seed: int, run_kwargs: dict[str, Any]) -> Any:
    """Runs one point (a plain module-level function, so process pools and dask can ship it)."""
    cfg = Config.from_dict(config)
    if kind == "dmft":  # each group's C and R only when asked for: a sweep keeps every point
        return solve_dmft(cfg, seed=seed, **{"keep_groups": False, **run_kwargs})
    return simulate(cfg, seed=seed, **run_kwargs)


def run_point_timed(kind: str, config: dict[str, Any], seed: int, run_kwargs: dict[str, Any]) -> tuple[Any, float]:
    """`run_point` and its wall time in seconds, measured where it runs."""
    start = time.perf_counter()
    result = run_point(kind, config, seed, run_kwargs)
    return result, time.perf_counter() - start


def _stop_if_set(stop: threading.Event, done: int, total: int) -> None:
    """The progress callback of a point run in a thread: interrupts it once `stop` is set."""
    if stop.is_set():
        raise KeyboardInterrupt("sweep interrupted")


def _deterministic(exc: BaseException) -> bool:
    """Whether a point's failure would repeat on a re-run (a bad config, a divergence), as
    opposed to a lost worker, a full memory or an interrupt."""
    return isinstance(exc, (ValueError, TypeError, ArithmeticError, DivergenceError))


def _as_completed(futures: list[Any]) -> Any:
    """The futures in the order they finish (concurrent.futures or dask.distributed)."""
    if futures and type(futures[0]).__module__.startswith("distributed"):
        from distributed import as_completed
        return as_completed(futures)  # type: ignore[no-untyped-call]  # distributed is untyped
    return concurrent.futures.as_completed(futures)


def _point_bytes(kind: str, cfg: Config, run_kwargs: dict[str, Any]) -> int:
    """An upper bound of one point's file (uncompressed arrays)."""
    T = cfg.steps
    if kind == "simulate":
        return 8 * T * (1 + len(OBSERVABLES) * int(run_kwargs.get("replicas", 16))) + 4096
    # C, R (and M_C, M_R) with their standard errors, each group's C and R if kept.
    groups = int(run_kwargs.get("groups") or 8)
    matrices = (8 if run_kwargs.get("keep_kernels", True) else 4) + (2 * groups if run_kwargs.get("keep_groups") else 0)
    return 8 * (matrices * T * T + T * (4 + (2 + groups) * len(OBSERVABLES))) + 4096


def _check_disk(store: Path, need: int) -> None:
    free = shutil.disk_usage(store).free
    if need > free:
        raise OSError(f"store {store}: the sweep needs about {need / 2**20:.0f} MiB of disk, "
                      f"{free / 2**20:.0f} MiB are free (keep_kernels=False shrinks DMFT points)")


def _points(grid: Any) -> tuple[list[dict[str, Any]], list[tuple[str, list[Any]]] | None]:
    """The list of changes, and the axes (name, values) when the grid is a product."""
    if isinstance(grid, Mapping):
        names = list(grid)
        axes = []
        for name in names:
            values = grid[name]
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
                raise ValueError(f"grid[{name!r}] must be a non-empty sequence of values, got {values!r}")
            axes.append((name, list(values)))
        points = [dict(zip(names, combo)) for combo in itertools.product(*(v for _, v in axes))]
        return points, axes
    if isinstance(grid, Sequence) and not isinstance(grid, (str, bytes)) and grid:
        if not all(isinstance(p, Mapping) for p in grid):
            raise TypeError("grid must be a dict of sequences or a list of dicts of changes")
        return [dict(p) for p in grid], None
    raise TypeError("grid must be a dict of sequences or a non-empty list of dicts of changes")


@dataclass(eq=False)
class SweepResult:
    """The points of a sweep and their results.

    ``configs[i]``/``results[i]``/``seeds[i]`` belong to ``points[i]`` (the changes to the
    base config); ``results[i]`` is None for a failed point, which is listed in
    ``failures`` as a dict (index, changes, config as a dict or None where the changes
    were invalid, error). ``axes`` lists (name, values) for a product
    grid, None for a list of points.
    """

    kind: str
    base_config: Config
    points: list[dict[str, Any]]
    axes: list[tuple[str, list[Any]]] | None
    seeds: list[int]
    configs: list[Config | None]
    results: list[Any]
    failures: list[dict[str, Any]] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    seconds: list[float | None] = field(default_factory=list)

    def status_table(self) -> pd.DataFrame:
        """A pandas DataFrame of every point: its changes, status ("computed", "loaded"
        from a store, "failed"), run time in seconds (of a loaded point, the time its
        file records, measured when it was computed) and failure reason, to see what to
        rerun."""
        pd = _pandas("status_table()")
        errors = {f["index"]: f["error"] for f in self.failures}
        status = self.status or ["failed" if r is None else "computed" for r in self.results]
        seconds = self.seconds or [None] * len(self.points)
        return pd.DataFrame([
            {**changes, "status": st, "seconds": sec, "error": errors.get(i)}
            for i, (changes, st, sec) in enumerate(zip(self.points, status, seconds))
        ])

    def _index(self, result: Any, at: str | float) -> int:
        if at == "final":
            return int(result.t.size) - 1
        step = _core.step_at(result.config.to_dict(), t=float(at))  # the core's rule: the nearest step
        return int(result.t.size) if step is None else step

    def _check_time(self, at: str | float) -> None:
        """ValueError unless `at` is "final" or a time >= 0 that every finished point
        reaches (naming those whose horizon is shorter)."""
        if at == "final":
            return
        if not (isinstance(at, (int, float)) and not isinstance(at, bool) and at >= 0):
            raise ValueError(f"at must be 'final' or a time >= 0, got {at!r}")
        short = [(changes, float(res.t[-1])) for changes, res in zip(self.points, self.results)
                 if res is not None and self._index(res, at) >= res.t.size]
        if short:
            listed = "; ".join(f"{changes or 'base'} ends at t={end:g}" for changes, end in short)
            raise ValueError(f"at={at:g} is past the last time of {len(short)} point(s): {listed}")

    def _check_observable(self, name: str) -> None:
        """ValueError unless `name` is recorded by at least one point (the classification
        errors are not recorded for regression teachers; such points give NaN)."""
        if name not in OBSERVABLES:
            raise ValueError(f"observable must be one of {OBSERVABLES}, got {name!r}")
        done = [r for r in self.results if r is not None]
        if done and all(getattr(r, name) is None for r in done):
            check_recorded(done[0].config, name)

    def _value(self, result: Any, name: str, at: str | float) -> tuple[float, float]:
        if getattr(result, name) is None:  # a classification error of a regression teacher
            return np.nan, np.nan
        k = self._index(result, at)
        if self.kind == "simulate":
            sem = result.sem(name)[k] if result.replicas > 1 else np.nan
            return float(result.mean(name)[k]), float(sem)
        sem = float(result.sem(name)[k]) if result.groups > 1 else np.nan
        return float(result.mean(name)[k]), sem

    def array(self, observable: str, at: str | float = "final", sem: bool = False) -> np.ndarray:
        """The observable at time `at` (``"final"``, each point's last step, or a time t,
        rounded to the nearest step), shaped by the grid axes (a product grid) or by the
        list of points. Failed points are NaN, and so are the classification errors of
        points with a regression teacher. A time past the last step of some point raises
        ValueError naming those points. ``sem=True`` gives the standard errors instead
        (NaN where a run reports none: one group or one replica)."""
        self._check_observable(observable)
        self._check_time(at)
        values = np.full(len(self.points), np.nan)
        for i, res in enumerate(self.results):
            if res is not None:
                values[i] = self._value(res, observable, at)[int(sem)]
        if self.axes is None:
            return values
        return values.reshape([len(v) for _, v in self.axes])

    def table(self, observable: str, at: str | float = "final") -> pd.DataFrame:
        """A tidy pandas DataFrame: one row per successful point, the changed fields as
        columns, then the observable (``mean`` for simulations) and its standard error
        (``sem``; NaN where none is reported) and the point's seed."""
        pd = _pandas("table()")
        self._check_observable(observable)
        self._check_time(at)
        rows = []
        for changes, seed, res in zip(self.points, self.seeds, self.results):
            if res is None or getattr(res, observable) is None:
                continue
            value, sem = self._value(res, observable, at)
            rows.append({**changes, observable: value, "sem": sem, "seed": seed})
        return pd.DataFrame(rows)

    def to_xarray(self, at: str | float = "final") -> xr.Dataset:
        """An xarray Dataset (needs ``pip install 'dmft-sgd[xarray]'``) of every point's
        observables at time `at` (as in `array`): for a product grid, one dim per grid
        axis with its values as coordinate; for a list of points, dim ``point`` with each
        changed field as a coordinate along it. A numeric field's None is NaN in its
        coordinate (``tau=None``, plain SGD, and, for a list of points, a field that a
        point leaves unchanged: the base config's value), so that coordinates are numeric
        and ``to_netcdf`` writes them. Variables: each observable recorded by some point
        and its standard error ``<name>_sem`` (NaN for failed points and where none is
        reported), ``seed`` and ``status`` of each point. ``attrs``: ``base_config``
        (JSON: ``Config.from_dict(json.loads(ds.attrs["base_config"]))`` restores it),
        ``sweep_kind``, ``at``, ``failures`` (their number), ``kind`` and ``dmft_sgd_version``."""
        from . import _xarray

        return _xarray.sweep(self, at)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """One `.npz` file with every point's arrays; read it back with `dmft_sgd.load`."""
        metas: list[dict[str, Any] | None] = []
        arrays: dict[str, np.ndarray] = {}
        for i, res in enumerate(self.results):
            if res is None:
                metas.append(None)
                continue
            kind, meta, res_arrays = res._payload()
            metas.append({**meta, "kind": kind})
            arrays.update({f"p{i}.{name}": a for name, a in res_arrays.items()})
        meta = {
            "sweep_kind": self.kind,
            "base_config": self.base_config.to_dict(),
            "points": self.points,
            "axes": self.axes,
            "seeds": [str(s) for s in self.seeds],  # JSON numbers lose 64-bit precision
            "results": metas,
            "failures": self.failures,
            "status": self.status,
            "seconds": self.seconds,
        }
        return _io.write(path, "sweep", meta, arrays)

    def __repr__(self) -> str:
        return (
            f"SweepResult(kind={self.kind!r}, points={len(self.points)}, "
            f"failures={len(self.failures)}, base_config={self.base_config!r})"
        )


def _sweep_from_file(meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> SweepResult:
    results: list[Any] = []
    for i, res_meta in enumerate(meta["results"]):
        if res_meta is None:
            results.append(None)
            continue
        prefix = f"p{i}."
        mine = {name[len(prefix):]: a for name, a in arrays.items() if name.startswith(prefix)}
        point_meta = {"version": meta.get("version"), **res_meta}
        results.append(from_payload(point_meta, mine, f"{where} (point {i})"))
    axes = None if meta["axes"] is None else [(name, list(values)) for name, values in meta["axes"]]
    return SweepResult(
        kind=meta["sweep_kind"],
        base_config=Config.from_dict(meta["base_config"]),
        points=[dict(p) for p in meta["points"]],
        axes=axes,
        seeds=[int(s) for s in meta["seeds"]],
        configs=[None if r is None else r.config for r in results],
        results=results,
        failures=list(meta["failures"]),
        status=list(meta.get("status", [])),
        seconds=list(meta.get("seconds", [])),
    )


READERS["sweep"] = _sweep_from_file


@dataclass(eq=False)
class _Point:
    """One point of a sweep: what it runs, then how it ended (`sweep` fills in the
    outcome as the store is read and the run finishes)."""

    index: int
    changes: dict[str, Any]
    seed: int
    config: Config | None = None  # None where the changes are invalid
    status: str = "pending"  # then "loaded", "computed" or "failed"
    result: Any = None
    seconds: float | None = None
    error: str | None = None

    def fail(self, error: str) -> None:
        self.status, self.error = "failed", error

    def failure(self) -> dict[str, Any]:
        """The point as listed in `SweepResult.failures`."""
        config = None if self.config is None else self.config.to_dict()
        return {"index": self.index, "changes": self.changes, "config": config, "error": self.error}


def sweep(
    base_cfg: Config,
    grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]],
    kind: str = "dmft",
    executor: Any = None,
    *,
    seed: int = 0,
    store: str | os.PathLike[str] | None = None,
    retry_failed: bool = False,
    progress: bool | Callable[[int, int], Any] | None = None,
    **run_kwargs: Any,
) -> SweepResult:
    """Runs `solve_dmft` (kind="dmft") or `simulate` (kind="simulate") at every point.

    Parameters
    ----------
    base_cfg : Config
        The settings shared by all points.
    grid : dict of sequences, or list of dicts
        ``{"batch": [0.1, 0.3, 1], "tau": [1, 5]}`` is the cartesian product (axes in
        this order); a list ``[{"batch": 0.1}, {"batch": 0.3, "lam": 0.1}]`` lists points.
    kind : "dmft" or "simulate"
        Which engine runs each point.
    executor : None, a concurrent.futures.Executor, or a dask.distributed.Client
        None: a local thread pool with one worker per core (at most one per point), each
        run given ``cores // workers`` Rust threads so the machine is not oversubscribed.
        With your own executor, pass ``threads=`` (e.g. 1 for a process pool with one
        worker per core); otherwise every run uses all cores of its machine.
    seed : int
        Base seed; point ``p`` runs with ``point_seed(seed, p)``.
    store : path or None
        A folder that keeps every finished point as its own file, written at once and
        atomically by this process (workers only return results). Running the same sweep
        again resumes: finished points are read back, not recomputed; a point whose file
        is truncated or tampered with is reported (a warning) and recomputed; points that
        failed deterministically (invalid config, divergence) stay failed unless
        ``retry_failed=True``, others (a lost worker, memory, an interrupt) run again. A
        store made for another kind, base config, base seed, package version or run
        option that changes numbers is refused. Ctrl-C stops the running points of a
        thread pool within a step, keeps the finished ones and says how to resume. See the
        README for the layout.
    retry_failed : bool
        Re-run the points a store recorded as failed.
    progress : bool, callable or None
        True shows a progress bar over the points to run (done / total, ETA and the
        failures so far; tqdm, terminal or notebook); a callable is called as
        ``progress(done, total)`` as points finish.
    **run_kwargs
        Passed to every run: ``samples``, ``response_samples``, ``method``, ... for the
        DMFT (whose points keep each group's C and R only with ``keep_groups=True``);
        ``d``, ``replicas`` for simulations; ``threads``.

    Returns
    -------
    SweepResult
        A point whose config is invalid, or whose run fails (e.g. diverges), is kept in
        ``failures`` with its error; the other points are unaffected.

    Raises
    ------
    ValueError, TypeError
        A bad grid, kind or option, or a store made for another sweep, before any work.
    OSError
        The store's disk cannot hold the missing points.
    KeyboardInterrupt
        Ctrl-C; finished points are kept (in the store, if any).

    Examples
    --------
    A 2 x 2 product grid of tiny DMFT solves, one of them invalid (``tau`` below ``lr``):

    >>> import dmft_sgd as ds
    >>> base = ds.Config(alpha=2.0, delta=0.5, lr=0.2, steps=10)
    >>> res = ds.sweep(base, {"batch": [0.3, 1.0], "tau": [None, 0.1]}, samples=200, threads=1)
    >>> res.points[1]
    {'batch': 0.3, 'tau': 0.1}
    >>> res.array("test_error").shape
    (2, 2)
    >>> len(res.failures), res.failures[0]["changes"]
    (2, {'batch': 0.3, 'tau': 0.1})
    """
    base_cfg = as_config("base_cfg", base_cfg)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if "seed" in run_kwargs:
        raise TypeError("pass the base seed as seed=")
    seed = as_seed(seed)
    changes_list, axes = _points(grid)
    for changes in changes_list:
        check_field_names(changes, where="grid: ")

    points = [_Point(i, changes, point_seed(seed, changes)) for i, changes in enumerate(changes_list)]
    for p in points:
        try:
            p.config = base_cfg.replace(**p.changes)
        except (ValueError, TypeError) as exc:
            p.fail(f"{type(exc).__name__}: {exc}")

    points_store = None
    if store is not None:
        manifest = {
            "kind": kind, "base_config": base_cfg.to_dict(), "seed": str(seed),
            "package_version": _core.__version__,
            "run_options": {k: v for k, v in sorted(run_kwargs.items()) if k != "threads"},
        }
        points_store = PointStore(store, manifest)
        for p in points:
            if p.config is None:
                continue
            state, value = points_store.load(p.changes, p.seed)
            if state == "done":
                (p.result, p.seconds), p.status = value, "loaded"
            elif state == "failed" and not retry_failed:
                p.fail(value)
            elif state == "broken":
                warnings.warn(f"sweep store: {value}; the point is computed again", stacklevel=2)
        # Pending points have a config (invalid changes fail when the points are built).
        need = sum(_point_bytes(kind, cast(Config, p.config), run_kwargs)
                   for p in points if p.status == "pending")
        _check_disk(points_store.path, need)

    _run(points, kind, executor, run_kwargs, points_store, progress)
    return SweepResult(
        kind=kind, base_config=base_cfg, points=[p.changes for p in points], axes=axes,
        seeds=[p.seed for p in points], configs=[p.config for p in points],
        results=[p.result for p in points],
        failures=[p.failure() for p in points if p.status == "failed"],
        status=[p.status for p in points], seconds=[p.seconds for p in points],
    )


def _run(points: list[_Point], kind: str, executor: Any, run_kwargs: dict[str, Any],
         points_store: PointStore | None, progress: Any) -> None:
    """Runs the pending points on `executor` (None: a local thread pool), updating each
    record, saving it in the store and reporting progress as it finishes."""
    todo = [p for p in points if p.status == "pending"]
    own_pool = executor is None
    if own_pool:
        cores = os.cpu_count() or 1
        workers = max(1, min(cores, len(todo)))
        run_kwargs.setdefault("threads", max(1, cores // workers))
        executor = ThreadPoolExecutor(max_workers=workers)
    bar = progress if isinstance(progress, Bar) else None
    if progress is True:
        bar = progress = Bar("sweep", unit="point", leave=True)
    # Runs in worker threads do not see Ctrl-C: a shared flag, polled through their
    # progress callback, stops them within a step (processes and dask stop with their pool).
    stop = threading.Event()
    point_kwargs = dict(run_kwargs)
    if isinstance(executor, ThreadPoolExecutor):
        point_kwargs["progress"] = functools.partial(_stop_if_set, stop)
    try:
        futures = {
            executor.submit(run_point_timed, kind, cast(Config, p.config).to_dict(), p.seed,
                            point_kwargs): p
            for p in todo
        }
        for done, future in enumerate(_as_completed(list(futures)), start=1):
            p = futures[future]
            try:
                p.result, p.seconds = future.result()
                p.status = "computed"
                if points_store is not None:
                    points_store.save_result(p.changes, p.seed, p.result, p.seconds)
            except Exception as exc:  # a failed point is recorded; the others go on
                error = f"{type(exc).__name__}: {exc}"
                p.fail(error)
                if points_store is not None and _deterministic(exc):
                    points_store.save_failure(p.changes, p.seed, error)
            if callable(progress):
                progress(done, len(futures))
            if bar is not None:  # done / total and ETA, plus the failures so far
                bar.note(failed=sum(q.status == "failed" for q in points))
    except KeyboardInterrupt:
        stop.set()
        if points_store is not None:
            kept = sum(q.status in ("computed", "loaded") for q in points)
            # stacklevel 3: the warning names the caller of `sweep`, not `sweep`.
            warnings.warn(f"sweep interrupted: {kept} finished points are in {points_store.path}; "
                          "run the same sweep again to resume", stacklevel=3)
        raise
    finally:
        if bar is not None:
            bar.close()
        if own_pool:
            executor.shutdown(wait=True, cancel_futures=True)
