"""File-writing conventions shared by every command.

* Outputs are written under a temporary name in the same directory and renamed into
  place only when complete, so a failed or killed job never leaves a file that looks
  finished (Snakemake and qbnn would otherwise take it as done).
* Every result-producing command prints one JSON object as its last stdout line.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from qbnn.errors import QbnnError


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    final = Path(path)
    if final.parent and not final.parent.exists():
        final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{final.name}.", suffix=suffix if suffix is not None else ".tmp", dir=final.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def print_summary(summary: dict) -> None:
    """Print the command's result as one JSON object on the last stdout line."""
    sys.stdout.flush()
    print(json.dumps(summary, sort_keys=True, default=_json_default), flush=True)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def stable_hash(obj: Any) -> str:
    """SHA-256 (hex, first 16 chars) of a JSON-serialisable object, key-order independent."""
    blob = json.dumps(obj, sort_keys=True, default=_json_default).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def file_hash(path: str | os.PathLike) -> str:
    """SHA-256 (hex, first 16 chars) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def require_file(path: str | os.PathLike, what: str = "file") -> Path:
    """Return ``Path(path)`` or raise a QbnnError naming the missing file."""
    p = Path(path)
    if not p.is_file():
        raise QbnnError(f"{what} not found: {p}")
    return p


def open_h5(path: str | os.PathLike, what: str = "HDF5 file"):
    """Open an HDF5 file read-only, turning unreadable/truncated files into QbnnError."""
    import h5py

    p = require_file(path, what)
    try:
        return h5py.File(p, "r")
    except OSError as exc:
        raise QbnnError(f"{what} {p} is not a readable HDF5 file ({exc.__class__.__name__})") from None
