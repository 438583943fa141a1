"""Validation shared by every command: numbers, output paths, and malformed input files.

* Numbers: argparse ``type=`` callables (:func:`finite`, :func:`non_negative`, :func:`positive`,
  :func:`probability`, :func:`seconds`, :func:`count`, :func:`seed`) so that every command refuses
  NaN, infinities, negative time limits and out-of-range seeds with the same one-line message.
* Output paths: :func:`check_outputs` runs before any work and refuses an output that is one of the
  command's inputs (also via a symlink or another name of the same file), that exists but is not a
  regular file (a directory, a device), that names no file or lies in an unwritable place, and a
  ``--checkpoint`` that is an output or an existing file that is not a qbnn solver checkpoint.
* Input files: :func:`reading` wraps a file reader so that anything a malformed file raises
  (missing keys, wrong types, bad JSON attributes, a group where a dataset belongs) becomes one
  :class:`~qbnn.errors.QbnnError` naming the file.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import stat
import zipfile
from pathlib import Path
from typing import Iterable, Iterator

from qbnn.errors import QbnnError

#: seeds must fit every generator qbnn uses (numpy's legacy RandomState takes < 2**32)
SEED_MAX = 2**32 - 1


# ------------------------------------------------------------------------------------ numbers
def _float(text: str) -> float:
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return v


def _int(text: str) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def finite(text: str) -> float:
    """Any finite number."""
    return _float(text)


def _checked(v, ok: bool, expected: str, text: str):
    """``v`` when ``ok``, else the argparse error saying what was expected."""
    if not ok:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return v


def non_negative(text: str) -> float:
    """A finite number >= 0."""
    v = _float(text)
    return _checked(v, v >= 0, "a number >= 0", text)


def positive(text: str) -> float:
    """A finite number > 0."""
    v = _float(text)
    return _checked(v, v > 0, "a number > 0", text)


def probability(text: str) -> float:
    """A number in [0, 1]."""
    v = _float(text)
    return _checked(v, 0.0 <= v <= 1.0, "a number in [0, 1]", text)


def seconds(text: str) -> float | None:
    """A positive finite number of seconds, or none/null (no wall-clock limit)."""
    if str(text).strip().lower() in ("none", "null"):
        return None
    return positive(text)


def count(text: str) -> int:
    """An integer >= 1."""
    v = _int(text)
    return _checked(v, v >= 1, "an integer >= 1", text)


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    v = _int(text)
    return _checked(v, v >= 0, "an integer >= 0", text)


def seed(text: str) -> int:
    """A seed in 0..2**32-1."""
    v = _int(text)
    return _checked(v, 0 <= v <= SEED_MAX, f"a seed in 0..{SEED_MAX}", text)


def check_number(name: str, value, *, minimum: float | None = None, strict: bool = False,
                 maximum: float | None = None) -> float:
    """Library-side counterpart of the argparse types: a finite number within bounds, else QbnnError."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise QbnnError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise QbnnError(f"{name} must be finite, got {value!r}")
    if minimum is not None and (v <= minimum if strict else v < minimum):
        raise QbnnError(f"{name} must be {'>' if strict else '>='} {minimum:g}, got {value!r}")
    if maximum is not None and v > maximum:
        raise QbnnError(f"{name} must be <= {maximum:g}, got {value!r}")
    return v


# --------------------------------------------------------------------------------- input files
@contextlib.contextmanager
def reading(path, what: str) -> Iterator[None]:
    """Turn whatever a malformed ``what`` file makes a reader raise into one QbnnError naming it."""
    try:
        yield
    except QbnnError as exc:
        if str(path) in str(exc):
            raise
        raise QbnnError(f"{what} {path}: {exc}") from None
    except MemoryError:
        raise
    except (KeyError, ValueError, TypeError, IndexError, AttributeError, OSError, RuntimeError,
            json.JSONDecodeError, UnicodeError, OverflowError) as exc:
        detail = str(exc).splitlines()[0][:160] if str(exc) else exc.__class__.__name__
        raise QbnnError(f"{what} {path} is malformed ({exc.__class__.__name__}: {detail})") from None


def json_attr(value, name: str):
    """Decode an HDF5 attribute that holds JSON text (bytes or str), else raise ValueError."""
    if isinstance(value, bytes):
        value = value.decode()
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, (dict, list)):
        return value
    if not isinstance(value, str):
        raise ValueError(f"attribute {name} is not JSON text")
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        raise ValueError(f"attribute {name} is not valid JSON") from None


def text_attr(value) -> str | None:
    """An HDF5 attribute as text (str or UTF-8 bytes), else None: safe to compare with ``==``
    whatever a malformed file stores there (an array would make ``==`` ambiguous)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value if isinstance(value, str) else None


def int_attr(value, name: str) -> int:
    """An integer-valued HDF5 attribute (e.g. a format version), else raise ValueError."""
    if isinstance(value, bytes):
        value = value.decode()
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"attribute {name} is not an integer")
    try:
        v = float(value) if not isinstance(value, int) else value
    except ValueError:
        raise ValueError(f"attribute {name} is not an integer: {value!r}") from None
    if not math.isfinite(float(v)) or not float(v).is_integer():
        raise ValueError(f"attribute {name} is not an integer")
    return int(v)


# -------------------------------------------------------------------------------- output paths
def _same(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    with contextlib.suppress(OSError):
        return os.path.samefile(a, b)
    return False


def _writable_place(p: Path) -> None:
    parent = p.parent if str(p.parent) else Path(".")
    probe = parent
    while not probe.exists():
        if probe.is_symlink():  # a dangling link where a folder should be
            raise QbnnError(f"cannot write {p}: {probe} is a broken link")
        nxt = probe.parent
        if nxt == probe:
            break
        probe = nxt
    if not probe.is_dir():
        raise QbnnError(f"cannot write {p}: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise QbnnError(f"cannot write {p}: {probe} is not writable")


def check_outputs(outputs: Iterable[tuple[str, str]], inputs: Iterable[tuple[str, str]],
                  checkpoint: str | None = None) -> None:
    """Refuse bad output paths before any work (see the module docstring).

    ``outputs`` / ``inputs``: ``(option, path)`` pairs; inputs that do not exist are ignored.
    """
    outs = [(opt, str(p)) for opt, p in outputs if p is not None]
    ins = [(opt, Path(p)) for opt, p in inputs if p is not None and str(p) and Path(p).exists()]
    for i, (opt, raw) in enumerate(outs):
        if not raw.strip() or not Path(raw).name or raw.endswith(os.sep):
            raise QbnnError(f"{opt} {raw!r} names no file")
        p = Path(raw)
        if p.exists() or p.is_symlink():
            st = os.stat(p) if p.exists() else None
            if st is not None and not stat.S_ISREG(st.st_mode):
                kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
                raise QbnnError(f"{opt} {p} is {kind}; refusing to replace it")
        _writable_place(p)
        for in_opt, q in ins:
            if p.exists() and _same(p, q) or os.path.realpath(p) == os.path.realpath(q):
                raise QbnnError(f"{opt} {p} is the input {in_opt}; refusing to overwrite an input")
        for other_opt, other in outs[:i]:
            if os.path.realpath(other) == os.path.realpath(p) or (p.exists() and _same(p, Path(other))):
                raise QbnnError(f"{opt} and {other_opt} name the same file {p}")
    if checkpoint is None:
        return
    c = Path(checkpoint)
    if not str(checkpoint).strip() or not c.name:
        raise QbnnError(f"--checkpoint {checkpoint!r} names no file")
    for opt, raw in outs:
        if os.path.realpath(raw) == os.path.realpath(c) or (c.exists() and Path(raw).exists() and _same(c, Path(raw))):
            raise QbnnError(f"--checkpoint {c} is also {opt}; give the checkpoint its own file")
    for in_opt, q in ins:
        if os.path.realpath(c) == os.path.realpath(q) or (c.exists() and _same(c, q)):
            raise QbnnError(f"--checkpoint {c} is the input {in_opt}; refusing to overwrite an input")
    if c.exists():
        if not c.is_file():
            raise QbnnError(f"--checkpoint {c} exists and is not a regular file")
        if not is_checkpoint_file(c):
            raise QbnnError(f"--checkpoint {c} exists and is not a qbnn solver checkpoint; refusing to overwrite it")
    _writable_place(c)


def is_checkpoint_file(path: Path) -> bool:
    """Whether ``path`` holds a qbnn solver checkpoint (read with torch's weights-only loader)."""
    if not zipfile.is_zipfile(path):
        return False
    try:
        import torch

        from qbnn.solvers.checkpoint import CHECKPOINT_FORMAT

        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any unreadable file is not a checkpoint
        return False
    return isinstance(data, dict) and data.get("format") == CHECKPOINT_FORMAT
