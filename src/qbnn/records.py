"""Validating readers of the result files that later commands read back.

* solution HDF5 (``qbnn solve``): ``/best_x`` 0/1, ``/trace`` (T, 3) finite, attributes;
* metrics JSON (``qbnn evaluate`` / ``baseline`` / ``train-mip``): one object whose accuracies are
  numbers in [0, 1];
* metrics CSV (``qbnn aggregate``): a non-empty table with a ``method`` column and accuracies.

Each turns every malformed file (empty, binary, truncated, wrong types) into one
:class:`~qbnn.errors.QbnnError` naming the file.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np

from qbnn.errors import QbnnError
from qbnn.io import open_h5, require_file
from qbnn.validate import reading, text_attr

SOLUTION_FORMAT = "qbnn-solution"


def read_solution(path: str | os.PathLike, need_trace: bool = False) -> dict[str, Any]:
    """``best_x`` (int8 0/1 ``(n,)``), ``trace`` (float64 ``(T, 3)``: step, seconds, energy) and ``attrs``."""
    with open_h5(path, "solution file") as f, reading(path, "solution file"):
        fmt = f.attrs.get("format")
        if fmt is not None and text_attr(fmt) != SOLUTION_FORMAT:
            raise QbnnError(f"solution file {path} has format {fmt!r}, expected {SOLUTION_FORMAT!r}")
        if "best_x" not in f or not hasattr(f["best_x"], "dtype"):
            raise QbnnError(f"solution file {path} lacks dataset /best_x")
        x = np.asarray(f["best_x"][()])
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise QbnnError(f"solution file {path}: /best_x must be numeric 0/1, got {x.dtype}")
        x = x.reshape(-1)
        if not np.isin(x, (0, 1)).all():
            raise QbnnError(f"solution file {path}: /best_x must contain only 0/1 values")
        trace = np.zeros((0, 3))
        if "trace" in f or need_trace:
            if "trace" not in f or not hasattr(f["trace"], "dtype"):
                raise QbnnError(f"solution file {path} lacks dataset /trace")
            trace = np.asarray(f["trace"][()], dtype=np.float64)
            if trace.size % 3 or not np.isfinite(trace).all():
                raise QbnnError(f"solution file {path}: /trace must be finite (step, seconds, energy) rows")
            trace = trace.reshape(-1, 3)
            if need_trace and not len(trace):
                raise QbnnError(f"solution file {path}: /trace is empty (a solve records at least its first state)")
        attrs = {}
        for k, v in f.attrs.items():
            v = v.decode() if isinstance(v, bytes) else v
            attrs[k] = v.item() if isinstance(v, np.generic) else v
        for k in ("seconds", "best_energy"):
            if k in attrs and not _finite_number(attrs[k]):
                raise QbnnError(f"solution file {path}: attribute {k} must be a finite number, got {attrs[k]!r}")
    return {"best_x": x.astype(np.int8), "trace": trace, "attrs": attrs}


def _finite_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _accuracy(v: Any) -> bool:
    return _finite_number(v) and 0.0 <= float(v) <= 1.0


def read_metrics_json(path: str | os.PathLike, required=("train_accuracy", "test_accuracy")) -> dict[str, Any]:
    """One metrics JSON object; the ``required`` keys present, accuracies numbers in [0, 1]."""
    p = require_file(path, "metrics file")
    try:
        text = p.read_bytes().decode("utf-8")
        rec = json.loads(text)
    except UnicodeDecodeError:
        raise QbnnError(f"metrics file {path} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise QbnnError(f"metrics file {path} is not valid JSON ({exc.msg})") from None
    if not isinstance(rec, dict):
        raise QbnnError(f"metrics file {path} must hold one JSON object, got {type(rec).__name__}")
    missing = [k for k in required if k not in rec]
    if missing:
        raise QbnnError(f"metrics file {path} lacks {', '.join(missing)}")
    for k in ("train_accuracy", "test_accuracy"):
        v = rec.get(k)
        if v is not None and not _accuracy(v):
            raise QbnnError(f"metrics file {path}: {k} must be a number in [0, 1], got {v!r}")
    return rec


def read_metrics_csv(path: str | os.PathLike):
    """The per-run table of ``qbnn aggregate`` (pandas DataFrame)."""
    import pandas as pd

    p = require_file(path, "metrics table")
    try:
        df = pd.read_csv(p)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise QbnnError(f"metrics table {path} is not a readable CSV ({exc.__class__.__name__})") from None
    missing = [c for c in ("method", "train_accuracy", "test_accuracy") if c not in df.columns]
    if missing:
        raise QbnnError(f"metrics table {path} lacks column(s) {', '.join(missing)}")
    for c in ("train_accuracy", "test_accuracy"):
        col = pd.to_numeric(df[c], errors="coerce")
        if len(df) and not ((col >= 0) & (col <= 1)).all():
            raise QbnnError(f"metrics table {path}: column {c} must hold numbers in [0, 1]")
        df[c] = col
    return df


__all__ = ["read_solution", "read_metrics_json", "read_metrics_csv", "SOLUTION_FORMAT"]
