"""Validating readers of the result files that later commands read back.

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

from qbnn.errors import QbnnError
from qbnn.io import require_file

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


__all__ = ["read_metrics_json", "read_metrics_csv"]
