"""A sweep's store: a folder in which every finished point is one file, written at once
and atomically by the process that runs the sweep, so that nothing computed is lost and
a re-run resumes.

Layout (readable with numpy or ``dmft_sgd.load`` alone; pandas users build a table with
``SweepResult.status_table``):

* ``store.json``: what the sweep is (kind, base config, base seed, package version and
  the run options that change numbers). A sweep with other settings is refused.
* ``point-<key>.npz``: a finished point, an ordinary result file (``dmft_sgd.load``)
  whose header also holds the point's changes, seed, run time, package version and a
  SHA-256 digest of its arrays; ``<key>`` is a hash of the changes.
* ``point-<key>.failed.json``: a point that failed for a deterministic reason (invalid
  config, divergence), with its error; re-run with ``retry_failed=True``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from . import _io
from ._core import __version__
from .results import from_payload

STORE_FORMAT = "dmft-sgd-sweep-store"
#: Version 2 records the model family's config fields and the test loss of every point.
STORE_VERSION = 2
MANIFEST = "store.json"


def point_key(changes: dict[str, Any]) -> str:
    """The file name stem of a point: a hash of its changes to the base config."""
    text = json.dumps(dict(sorted(changes.items())), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def digest(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of the arrays' names, dtypes, shapes and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    fd, tmp = _io.temporary(path)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _differences(store: dict[str, Any], sweep: dict[str, Any], prefix: str = "") -> list[str]:
    """The fields in which two manifests differ, nested ones by their path, each with both
    values: ``["base_config.alpha: store has 2.0, this sweep 3.0"]``."""
    def shown(manifest: dict[str, Any], key: str) -> str:
        return repr(manifest[key]) if key in manifest else "(not set)"

    differ = []
    for key in sorted(set(store) | set(sweep)):
        old, new = store.get(key), sweep.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            differ += _differences(old, new, f"{prefix}{key}.")
        elif old != new or (key in store) != (key in sweep):
            differ.append(f"{prefix}{key}: store has {shown(store, key)}, this sweep {shown(sweep, key)}")
    return differ


class PointStore:
    """The folder of one sweep; created, or checked against `manifest` if it exists."""

    def __init__(self, path: str | os.PathLike[str], manifest: dict[str, Any]) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        manifest = {"format": STORE_FORMAT, "version": STORE_VERSION, **manifest}
        target = self.path / MANIFEST
        if not target.exists():
            # Create-if-absent without a race: link a complete temporary file into place.
            fd, tmp = _io.temporary(target)
            with os.fdopen(fd, "w") as fh:
                json.dump(manifest, fh, indent=1, sort_keys=True)
            try:
                os.link(tmp, target)
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
        try:
            existing = json.loads(target.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"store {self.path}: unreadable {MANIFEST} ({exc})") from None
        if existing.get("version") != STORE_VERSION:
            raise ValueError(
                f"store {self.path} was written by another version of dmft-sgd (store version "
                f"{existing.get('version')!r}, this one writes {STORE_VERSION}): use another store "
                "folder; its point files stay readable with dmft_sgd.load")
        differ = _differences(existing, manifest)
        if differ:
            raise ValueError(f"store {self.path} belongs to another sweep ({'; '.join(differ)}); "
                             "use another store folder")

    def _file(self, changes: dict[str, Any], suffix: str) -> Path:
        return self.path / f"point-{point_key(changes)}{suffix}"

    def load(self, changes: dict[str, Any], seed: int) -> tuple[str, Any]:
        """("done", (result, seconds)) with the run time the file records (None where it
        records none), ("failed", error message), ("missing", None), or ("broken", reason)
        for a point file that is truncated, tampered with or not this point's."""
        failed = self._file(changes, ".failed.json")
        done = self._file(changes, ".npz")
        if done.exists():
            try:
                meta, arrays = _io.read(done)
                point = meta.get("point", {})
                if point.get("changes") != json.loads(json.dumps(changes)) or point.get("seed") != str(seed):
                    raise ValueError("the file belongs to another point")
                if point.get("digest") != digest(arrays):
                    raise ValueError("its arrays do not match their digest (tampered or damaged)")
                seconds = point.get("seconds")
                timed = isinstance(seconds, (int, float)) and not isinstance(seconds, bool)
                recorded = float(seconds) if timed else None
                return "done", (from_payload(meta, arrays, str(done)), recorded)
            except (ValueError, KeyError, TypeError) as exc:
                return "broken", f"{done.name}: {exc}"
        if failed.exists():
            try:
                return "failed", json.loads(failed.read_text())["error"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                return "broken", f"{failed.name}: {exc}"
        return "missing", None

    def save_result(self, changes: dict[str, Any], seed: int, result: Any, seconds: float) -> Path:
        kind, meta, arrays = result._payload()
        meta = {**meta, "point": {"changes": changes, "seed": str(seed), "seconds": seconds,
                                  "package_version": __version__, "digest": digest(arrays)}}
        path = _io.write(self._file(changes, ".npz"), kind, meta, arrays)
        self._file(changes, ".failed.json").unlink(missing_ok=True)
        return path

    def save_failure(self, changes: dict[str, Any], seed: int, error: str) -> None:
        _write_json(self._file(changes, ".failed.json"),
                    {"changes": changes, "seed": str(seed), "error": error, "package_version": __version__})
