"""File-writing conventions shared by every command.

* Outputs are written under a temporary name in the same directory and renamed into
  place only when complete, so a failed or killed job never leaves a file that looks
  finished (Snakemake and qbnn would otherwise take it as done).
* Inside an :func:`output_transaction` (the CLI opens one per command) the renames of the
  command's declared outputs wait until the command succeeds: a command that writes several
  files leaves all of them or none.
* Temporary names carry the writer's pid and host (``.<name>.qbnn-tmp-<pid>-<host>.*``): a later
  write of the same file removes those of dead processes on this host (a kill -9 leaves them).
* Finished files get the usual ``0666 & ~umask`` mode (``mkstemp`` alone would make them 0600).
* Every result-producing command prints one JSON object as its last stdout line; NaN and
  infinities are written as ``null`` (JSON has no NaN).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np

from qbnn.errors import QbnnError

TMP_TAG = ".qbnn-tmp-"
#: temporary files of other hosts (shared file systems) are removed only after this long
STALE_TMP_SECONDS = 7 * 24 * 3600


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname())[:32] or "host"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def clean_stale_temporaries(final: Path) -> list[Path]:
    """Remove temporary files of ``final`` left by killed writers; returns the removed paths."""
    prefix = f".{final.name}{TMP_TAG}"
    removed = []
    try:
        candidates = [p for p in final.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return removed
    host, now = _host(), time.time()
    for p in candidates:
        pid_text, _, rest = p.name[len(prefix):].partition("-")
        their_host = rest.partition(".")[0]
        try:
            dead = pid_text.isdigit() and their_host == host and not _pid_alive(int(pid_text))
            old = now - p.lstat().st_mtime > STALE_TMP_SECONDS
            if dead or old:
                p.unlink()
                removed.append(p)
        except OSError:
            continue
    return removed


def _umask() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class OutputTransaction:
    """Finished temporaries of the outputs in ``paths`` (all outputs when None), renamed together."""

    def __init__(self, paths=None):
        self.paths = None if paths is None else {os.path.abspath(os.fspath(p)) for p in paths}
        self.staged: dict[str, Path] = {}  # final (absolute) -> finished temporary

    def covers(self, final: Path) -> bool:
        return self.paths is None or os.path.abspath(final) in self.paths

    def commit(self) -> None:
        for final, tmp in list(self.staged.items()):
            os.replace(tmp, final)
            del self.staged[final]

    def abort(self) -> None:
        for tmp in self.staged.values():
            with contextlib.suppress(OSError):
                tmp.unlink()
        self.staged.clear()


_ACTIVE: list[OutputTransaction] = []


@contextlib.contextmanager
def output_transaction(paths=None) -> Iterator[OutputTransaction]:
    """Defer the final renames of ``paths`` (None: every atomic output) until the block succeeds;
    on an exception every staged temporary is removed and no output appears."""
    txn = OutputTransaction(paths)
    _ACTIVE.append(txn)
    try:
        yield txn
        _ACTIVE.remove(txn)
        txn.commit()
    except BaseException:
        if txn in _ACTIVE:
            _ACTIVE.remove(txn)
        txn.abort()
        raise


def current_path(path: str | os.PathLike) -> Path:
    """Where ``path``'s content is now: its staged temporary inside a transaction, else ``path``."""
    key = os.path.abspath(os.fspath(path))
    for txn in reversed(_ACTIVE):
        if key in txn.staged:
            return txn.staged[key]
    return Path(path)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success (or, inside an
    :func:`output_transaction` covering ``path``, when the transaction commits).

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    final = Path(path)
    if not final.name:
        raise QbnnError(f"output path {str(path)!r} names no file")
    if final.parent and not final.parent.exists():
        final.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(final)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}{TMP_TAG}{os.getpid()}-{_host()}.",
                               suffix=suffix if suffix is not None else ".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    txn = next((t for t in reversed(_ACTIVE) if t.covers(final)), None)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())
        if txn is None:
            os.replace(tmp_path, final)
        else:
            old = txn.staged.pop(os.path.abspath(final), None)
            if old is not None:  # written twice in one command: the last version wins
                with contextlib.suppress(OSError):
                    old.unlink()
            txn.staged[os.path.abspath(final)] = tmp_path
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def finite_json(obj: Any) -> Any:
    """``obj`` with numpy scalars/arrays made plain and NaN/±inf floats replaced by None."""
    if isinstance(obj, dict):
        return {str(k) if not isinstance(k, str) else k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return finite_json(obj.tolist())
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def dumps(obj: Any, **kw) -> str:
    """Strict JSON text of ``obj`` (:func:`finite_json` first; never NaN/Infinity)."""
    return json.dumps(finite_json(obj), allow_nan=False, default=_json_default, **kw)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented strict JSON, atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(dumps(obj, indent=2, sort_keys=True) + "\n")


def print_summary(summary: dict) -> None:
    """Print the command's result as one JSON object on the last stdout line."""
    sys.stdout.flush()
    print(dumps(summary, sort_keys=True), flush=True)


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
    with open(current_path(path), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def read_json(path: str | os.PathLike, what: str) -> Any:
    """The JSON document of file ``path``; missing, non-UTF-8 or invalid JSON is one QbnnError naming it."""
    p = require_file(path, what)
    try:
        return json.loads(p.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise QbnnError(f"{what} {path} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise QbnnError(f"{what} {path} is not valid JSON ({exc.msg})") from None


def require_file(path: str | os.PathLike, what: str = "file") -> Path:
    """The path to read ``path`` from (its staged version inside a transaction), or a QbnnError
    naming the missing file."""
    p = current_path(path)
    if not p.is_file():
        raise QbnnError(f"{what} not found: {path}")
    return p


_SHARED_H5: dict[str, Any] = {}  # absolute path -> the handle shared_h5 holds open


class _BorrowedH5:
    """A handle :func:`shared_h5` lent to an :func:`open_h5` caller: closing it leaves the file open."""

    def __init__(self, f):
        self._f = f

    def __enter__(self):
        return self._f

    def __exit__(self, *exc) -> bool:
        return False

    def close(self) -> None:
        pass

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __getitem__(self, key):
        return self._f[key]

    def __contains__(self, key) -> bool:
        return key in self._f


def open_h5(path: str | os.PathLike, what: str = "HDF5 file"):
    """Open an HDF5 file read-only, turning unreadable/truncated files into QbnnError (inside
    :func:`shared_h5` of the same path: its one handle)."""
    p = require_file(path, what)
    shared = _SHARED_H5.get(os.path.abspath(p))
    if shared is not None:
        return _BorrowedH5(shared)
    try:
        return h5py.File(p, "r")
    except OSError as exc:
        raise QbnnError(f"{what} {path} is not a readable HDF5 file ({exc.__class__.__name__})") from None


@contextlib.contextmanager
def shared_h5(path: str | os.PathLike, what: str = "HDF5 file") -> Iterator[Any]:
    """Open ``path`` once for the block: every :func:`open_h5` of it inside reuses this handle (the
    readers of one command -- memory guard, QUBO, compiled problem -- then open the file once)."""
    f = open_h5(path, what)
    key = os.path.abspath(require_file(path, what))
    owner = key not in _SHARED_H5
    if owner:
        _SHARED_H5[key] = f
    try:
        yield f
    finally:
        if owner:
            del _SHARED_H5[key]
            f.close()
