"""The `.npz` file format of results: numpy arrays plus one JSON header, never pickles.

The header `__meta__` holds the format name and version, the result kind, the config as
a plain dict, and the scalar run parameters. Saving writes a temporary file next to the
target and renames it, so an interrupted save never leaves a half-written file; files get
the permissions of any file the user creates (mode 0666 less the umask).
"""

from __future__ import annotations

import json
import os
import secrets
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "dmft-sgd"
#: The version written. Older versions are still read: version 1 (before the test loss
#: was recorded) gives ``test_loss`` None; versions 1 and 2 (before the two-time error
#: bars) give DMFT results without ``C_sem``, ``R_sem``, the kernels' sems, each group's
#: C and R and observables (None).
VERSION = 3
READABLE = (1, 2, 3)
#: The first bytes of a zip archive (an .npz file): a file, or an empty archive.
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
#: The first bytes of a single .npy array.
NPY_MAGIC = b"\x93NUMPY"


def temporary(target: Path) -> tuple[int, Path]:
    """A new file next to `target` for an atomic write: (descriptor, path). Created with
    mode 0o666, so the umask (and a default ACL) apply as for any file the user creates;
    ``tempfile.mkstemp`` would make it 0600, unreadable by colleagues, and reading the umask
    to chmod afterwards is not thread-safe (``os.umask`` sets it to read it)."""
    for _ in range(100):
        tmp = target.parent / f"{target.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name next to {target}")


def write(path: str | os.PathLike[str], kind: str, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Atomically writes `arrays` and the header to `path` (".npz" appended if missing)."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    header = {"format": FORMAT, "version": VERSION, "kind": kind, **meta}
    # Any: numpy's stub would match a key against savez_compressed's `allow_pickle`.
    payload: dict[str, Any] = {name: np.asarray(a) for name, a in arrays.items()}
    payload["__meta__"] = np.array(json.dumps(header))
    fd, tmp = temporary(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **payload)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


def read(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Reads a result file; raises ValueError for anything that is not one."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    try:
        # Open the file here: np.load leaks its handle when the archive is broken.
        with open(path, "rb") as fh:
            # Only a zip archive gets to np.load: it takes anything but an .npy array for a
            # pickle, and would answer about pickles.
            start = fh.read(len(NPY_MAGIC))
            foreign = ("a single array, not an archive" if start == NPY_MAGIC
                       else None if start[:4] in ZIP_MAGIC else "not an .npz archive")
            if foreign is None:
                fh.seek(0)
                with np.load(fh, allow_pickle=False) as data:
                    arrays = {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"{path}: not a readable dmft-sgd result file ({exc})") from None
    if foreign is not None:
        raise ValueError(f"{path}: not a dmft-sgd result file ({foreign})")
    if "__meta__" not in arrays:
        raise ValueError(f"{path}: not a dmft-sgd result file (no header)")
    try:
        meta = json.loads(str(arrays.pop("__meta__")))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: corrupt header ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not a dmft-sgd result file")
    if meta.get("version") not in READABLE:
        raise ValueError(
            f"{path}: file format version {meta.get('version')!r}, this package reads {READABLE}"
        )
    return meta, arrays
