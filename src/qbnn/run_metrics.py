"""The per-run metrics record (JSON) and the per-run table of ``qbnn aggregate`` (CSV).

A metrics JSON is one object: the measured values (``train_accuracy``, ``test_accuracy``, ...), the run's
identity as top-level keys (:class:`qbnn.identity.Identity`: ``experiment, dataset, topology, method,
seed`` and, where they apply, ``solver, margin, dropout, dropout_exp, dropout_round``) and
``provenance`` (package versions, the dataset's config hash). ``qbnn evaluate``, ``baseline``,
``train`` and ``train-mip`` write it with :meth:`RunMetrics.save`; every reader goes through
:meth:`RunMetrics.load`, which turns any malformed file into one :class:`~qbnn.errors.QbnnError`
naming it.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

from qbnn.errors import QbnnError
from qbnn.identity import Identity, provenance
from qbnn import io as qbnn_io
from qbnn.io import read_json, require_file

ACCURACIES = ("train_accuracy", "test_accuracy")


def _finite_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass
class RunMetrics:
    """One run's measured ``values`` with its ``identity`` and ``provenance``."""

    values: dict[str, Any]
    identity: Identity = field(default_factory=Identity)
    provenance: dict[str, Any] = field(default_factory=provenance)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object: values, then the identity (authoritative over same-named values), provenance."""
        return {**self.values, **self.identity.to_dict(), "provenance": self.provenance}

    def save(self, path: str | os.PathLike) -> None:
        """Write the JSON atomically (strict JSON: NaN and infinities as null)."""
        qbnn_io.write_json(path, self.to_dict())  # looked up at call time: the one writer of JSON files

    @classmethod
    def load(cls, path: str | os.PathLike, required=ACCURACIES) -> "RunMetrics":
        """Read and check a metrics JSON: one object, the ``required`` keys present, accuracies numbers in
        [0, 1], identity fields of their types."""
        rec = read_json(path, "metrics file")
        if not isinstance(rec, dict):
            raise QbnnError(f"metrics file {path} must hold one JSON object, got {type(rec).__name__}")
        missing = [k for k in required if k not in rec]
        if missing:
            raise QbnnError(f"metrics file {path} lacks {', '.join(missing)}")
        for k in ACCURACIES:
            v = rec.get(k)
            if v is not None and not (_finite_number(v) and 0.0 <= float(v) <= 1.0):
                raise QbnnError(f"metrics file {path}: {k} must be a number in [0, 1], got {v!r}")
        identity = Identity.from_dict(rec, f"metrics file {path}")
        prov = rec.get("provenance", {})
        if not isinstance(prov, dict):
            raise QbnnError(f"metrics file {path}: provenance must be a JSON object")
        values = {k: v for k, v in rec.items() if k not in Identity.names() and k != "provenance"}
        return cls(values, identity, prov)

    def row(self) -> dict[str, Any]:
        """The flat table row of ``qbnn aggregate``: scalar values, then the identity fields."""
        flat = {k: v for k, v in self.values.items() if v is None or isinstance(v, (str, int, float, bool))}
        flat.update(self.identity.to_dict())
        return flat


def load_metrics_table(path: str | os.PathLike):
    """The per-run table of ``qbnn aggregate`` (pandas DataFrame): non-empty, with a ``method`` column
    and accuracies in [0, 1]."""
    import pandas as pd

    p = require_file(path, "metrics table")
    try:
        df = pd.read_csv(p)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise QbnnError(f"metrics table {path} is not a readable CSV ({exc.__class__.__name__})") from None
    missing = [c for c in ("method", *ACCURACIES) if c not in df.columns]
    if missing:
        raise QbnnError(f"metrics table {path} lacks column(s) {', '.join(missing)}")
    for c in ACCURACIES:
        col = pd.to_numeric(df[c], errors="coerce")
        if len(df) and not ((col >= 0) & (col <= 1)).all():
            raise QbnnError(f"metrics table {path}: column {c} must hold numbers in [0, 1]")
        df[c] = col
    return df


__all__ = ["RunMetrics", "load_metrics_table", "ACCURACIES"]
