"""The identity and provenance every record carries inside its file.

A run's identity (which experiment, dataset, topology, method, solver, λ, dropout, seed) is passed once,
by the workflow rule that makes the run (``--identity experiment=demo,dataset=d,...``), and stored in
each file the run writes: HDF5 records keep it as the JSON attribute ``identity``, metrics JSON as
top-level keys. Readers (``qbnn aggregate``, ``qbnn figures``, paper B's report) take it from there;
no file name is ever decoded. Provenance (package versions, the dataset's config hash) is stored
beside it (attribute / key ``provenance``).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
from dataclasses import dataclass, fields
from importlib import metadata
from collections.abc import Mapping
from typing import Any

import numpy as np

from qbnn import __version__
from qbnn.errors import QbnnError

#: identity fields every per-run metrics file carries
RUN_FIELDS = ("experiment", "dataset", "topology", "method", "seed")


@dataclass(frozen=True)
class Identity:
    """Who a record belongs to. ``None`` means "does not apply" (a baseline has no solver or λ).

    * ``experiment``: the first experiment of the config that lists the run (experiments share runs);
    * ``method``: the method as the report names it (``qubo_sa``, ``qubo+dropout_ste-pt``, ``mip_exact``,
      ``ste``, ``train_block``);
    * ``dropout``: whether the QUBO carries dropout penalties, ``dropout_exp`` the experiment whose
      penalties, ``dropout_round`` the round of a per-round evaluation.
    """

    experiment: str | None = None
    dataset: str | None = None
    topology: str | None = None
    method: str | None = None
    solver: str | None = None
    margin: float | None = None
    dropout: bool | None = None
    dropout_exp: str | None = None
    dropout_round: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if v is not None:
                object.__setattr__(self, f.name, _coerce(f.name, v))

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def parse(cls, text: str) -> "Identity":
        """``key=value,key=value`` (the ``--identity`` option); unknown keys and repeats refused."""
        out: dict[str, Any] = {}
        for item in filter(None, (s.strip() for s in text.split(","))):
            key, sep, value = item.partition("=")
            if not sep or key not in cls.names():
                raise QbnnError(f"--identity: {item!r} is not KEY=VALUE with KEY one of {', '.join(cls.names())}")
            if key in out:
                raise QbnnError(f"--identity: {key} given twice")
            out[key] = value
        return cls(**out)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "record") -> "Identity":
        """The identity fields of ``d`` (other keys ignored), each checked for its type."""
        try:
            return cls(**{k: d[k] for k in cls.names() if d.get(k) is not None})
        except QbnnError as exc:
            raise QbnnError(f"{where}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """The fields that apply (``None`` left out)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def to_text(self) -> str:
        return ",".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in self.to_dict().items())

    def updated(self, other: "Identity | None") -> "Identity":
        """This identity with every field that ``other`` sets taken from ``other``."""
        return Identity(**{**self.to_dict(), **(other.to_dict() if other else {})})

    def missing(self, required=RUN_FIELDS) -> list[str]:
        return [k for k in required if getattr(self, k) is None]

    # ------------------------------------------------------------------ HDF5 attributes
    def write_attrs(self, attrs, origin: dict[str, Any] | None = None) -> None:
        """Store this identity and its provenance (``origin``, else :func:`provenance`) as JSON attributes
        of an HDF5 object."""
        attrs["identity"] = json.dumps(self.to_dict(), sort_keys=True)
        attrs["provenance"] = json.dumps(origin if origin is not None else provenance(), sort_keys=True)

    @classmethod
    def read_attrs(cls, attrs, where: str) -> "Identity":
        """The ``identity`` attribute of an HDF5 object (empty identity when absent)."""
        raw = attrs.get("identity")
        if raw is None:
            return cls()
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="replace")
        try:  # JSON text, or already decoded (QUBO.load decodes JSON attributes)
            d = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError:
            d = None
        if not isinstance(d, dict):
            raise QbnnError(f"{where}: attribute identity is not a JSON object")
        return cls.from_dict(d, where)


def _coerce(name: str, v: Any) -> Any:
    """Field ``name``'s value from text (``--identity``) or JSON, or QbnnError naming the field."""
    if isinstance(v, bytes):
        v = v.decode()
    if hasattr(v, "item") and not isinstance(v, str):
        v = v.item()  # numpy scalars from HDF5 attributes
    if name == "margin":
        try:
            x = float(v) if not isinstance(v, bool) else math.nan
        except (TypeError, ValueError):
            x = math.nan
        if not math.isfinite(x) or x < 0:
            raise QbnnError(f"identity margin must be a finite number >= 0, got {v!r}")
        return x
    if name in ("seed", "dropout_round"):
        if isinstance(v, str) and v.strip().isdigit():
            return int(v)
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            return v
        raise QbnnError(f"identity {name} must be an integer >= 0, got {v!r}")
    if name == "dropout":
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in ("true", "false"):
            return v.lower() == "true"
        raise QbnnError(f"identity dropout must be true or false, got {v!r}")
    if not isinstance(v, str) or not v or any(c in v for c in ",=\n"):
        raise QbnnError(f"identity {name} must be non-empty text without ',' or '=', got {v!r}")
    return v


def versions(*extra: str) -> dict[str, str]:
    """Versions of qbnn, python and the libraries that shaped a result (``extra``: more distribution names)."""
    out = {"qbnn": __version__, "numpy": np.__version__, "python": platform.python_version()}
    for name in ("torch", "highspy", *extra):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def provenance(dataset_attrs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Package versions plus, for a run that read a dataset, that dataset's ``config_hash`` and ``seed``
    (the binarisation settings it was made with), taken from the attributes of the already validated
    record (``Dataset.attrs``), so the dataset file is read once, at its boundary."""
    out: dict[str, Any] = {"versions": versions()}
    for key in ("config_hash", "seed"):
        v = (dataset_attrs or {}).get(key)
        v = v.decode("utf-8", "replace") if isinstance(v, bytes) else v
        v = v.item() if getattr(v, "shape", None) == () else v  # numpy scalars; arrays are not provenance
        if isinstance(v, (str, int)) and not isinstance(v, bool):
            out[f"dataset_{key}"] = v
    return out


def _identity_option(text: str) -> Identity:
    try:
        return Identity.parse(text)
    except QbnnError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--identity: ")) from None


def add_identity_argument(p) -> None:
    """The ``--identity`` option of every command that writes a record of a run."""
    p.add_argument("--identity", type=_identity_option, default=None, metavar="KEY=VALUE,...",
                   help="the run's identity, stored in the written records: " + ", ".join(Identity.names())
                        + " (the workflow passes it; see docs/records-and-registry.md)")


__all__ = ["Identity", "RUN_FIELDS", "add_identity_argument", "provenance", "versions"]
