"""Files of the dropout scheme: per-round penalties and per-job subnetwork solutions."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from qbnn.errors import QbnnError
from qbnn.identity import Identity
from qbnn.io import atomic_output, file_hash, open_h5, require_file, stable_hash
from qbnn.validate import reading, text_attr

PENALTIES_FORMAT = "qbnn-penalties"
#: datasets a penalties file may keep ``h`` under (qbnn writes ``/h``; the others are accepted from outside)
PENALTY_NAMES = ("h", "weight_penalties", "penalties", "compiler/weight_penalties")


@dataclass
class Penalties:
    """Linear weight penalties ``h`` (float64, one per weight) of the dropout scheme or from outside.

    File: HDF5 with ``/h`` and attributes (round, seed, p, ...; ``identity`` and ``provenance``), plus
    ``extra`` arrays (``mean``, ``count``, ``weight_labels``); :meth:`load` also reads a ``.npy`` vector
    or an HDF5 file holding the vector under another of :data:`PENALTY_NAMES`.
    """

    h: np.ndarray
    attrs: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    identity: Identity = field(default_factory=Identity)

    def save(self, path) -> None:
        """Write ``/h`` plus attributes and extra arrays, atomically."""
        with atomic_output(path) as tmp:
            with h5py.File(tmp, "w") as f:
                f.attrs["format"] = PENALTIES_FORMAT
                f.attrs["format_version"] = 1
                f.create_dataset("h", data=np.asarray(self.h, dtype=np.float64))
                for k, v in self.extra.items():
                    f.create_dataset(k, data=v)
                for k, v in self.attrs.items():
                    f.attrs[k] = json.dumps(v) if isinstance(v, (dict, list)) else v
                self.identity.write_attrs(f.attrs)

    @classmethod
    def load(cls, path, n_weights: int | None = None) -> "Penalties":
        """Read and check penalties: a numeric, finite vector (of ``n_weights`` entries when given)."""
        p = require_file(path, "penalties file")
        attrs: dict[str, Any] = {}
        identity = Identity()
        with reading(path, "penalties file"):
            if p.suffix == ".npy":
                try:
                    raw = np.load(p, allow_pickle=False)
                except (OSError, ValueError) as exc:
                    raise QbnnError(f"penalties file {path} is not a readable .npy array "
                                    f"({exc.__class__.__name__})") from None
                h = _numeric_array(np.asarray(raw), path, "array")
            else:
                with open_h5(path, "penalties file") as f:
                    name = next((n for n in PENALTY_NAMES if n in f), None)
                    if name is None:
                        others = ", /".join(PENALTY_NAMES[1:])
                        raise QbnnError(f"penalties file {path} has no dataset /h (nor /{others})")
                    h = _numeric(f[name], path, name)
                    attrs = {k: (v.decode() if isinstance(v, bytes) else v.item() if hasattr(v, "item") else v)
                             for k, v in f.attrs.items() if k not in ("identity", "provenance")}
                    identity = Identity.read_attrs(f.attrs, f"penalties file {path}")
        h = h.astype(np.float64).reshape(-1)
        if n_weights is not None and h.shape != (n_weights,):
            raise QbnnError(f"penalties file {path}: penalties have {h.size} entries, "
                            f"the network has {n_weights} weights")
        if not np.isfinite(h).all():
            raise QbnnError(f"penalties file {path}: penalties contain NaN or infinite values")
        return cls(h, attrs, {}, identity)


SUBNETWORK_FORMAT = "qbnn-dropout-subnetwork"


def save_subnetwork(path, sol: Any, attrs: dict[str, Any] | None = None) -> None:
    """Write one solved subnetwork (``/map`` int64, ``/weights`` int8, attrs ``k``, ``errors``,
    plus ``attrs``: round, seed, n_weights, ...), atomically."""
    with atomic_output(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = SUBNETWORK_FORMAT
            f.attrs["format_version"] = 1
            f.create_dataset("map", data=np.asarray(sol.map, dtype=np.int64))
            f.create_dataset("weights", data=np.asarray(sol.weights, dtype=np.int8))
            f.attrs["k"], f.attrs["errors"] = int(sol.k), int(sol.errors)
            for key, v in (attrs or {}).items():
                f.attrs[key] = v


def load_subnetwork(path, n_weights: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``(map, weights, attrs)`` of a solved-subnetwork file, checked against ``n_weights``."""
    with open_h5(path, "subnetwork file") as f, reading(path, "subnetwork file"):
        if text_attr(f.attrs.get("format")) != SUBNETWORK_FORMAT or "map" not in f or "weights" not in f:
            raise QbnnError(f"{path}: not a dropout subnetwork file (qbnn dropout-subnetwork writes them)")
        m_raw, w_raw = _numeric(f["map"], path, "map"), _numeric(f["weights"], path, "weights")
        if not (np.array_equal(m_raw, np.round(m_raw)) and np.array_equal(w_raw, np.round(w_raw))):
            raise QbnnError(f"{path}: /map and /weights must hold integers")
        m, w = m_raw.astype(np.int64).reshape(-1), w_raw.astype(np.int64).reshape(-1)
        attrs = {k: (v.decode() if isinstance(v, bytes) else v.item() if hasattr(v, "item") else v)
                 for k, v in f.attrs.items()}
        for key in ("k", "errors", "round", "seed"):
            if (key in ("k", "errors") or key in attrs) and (not isinstance(attrs.get(key), int) or isinstance(attrs.get(key), bool)):
                raise QbnnError(f"{path}: attribute {key} must be an integer, got {attrs.get(key)!r}")
    if w.shape != m.shape or not np.isin(w, (-1, 1)).all():
        raise QbnnError(f"{path}: weights must be ±1 and as long as the map")
    w = w.astype(np.int8)
    if m.size and (m.min() < 0 or m.max() >= n_weights or np.unique(m).size != m.size):
        raise QbnnError(f"{path}: map does not index distinct weights of a {n_weights}-weight network")
    return m, w, attrs


def _numeric(node, path, name: str) -> np.ndarray:
    """The array of dataset ``/name``, refused unless it is a numeric dataset (not a group, not strings)."""
    if not hasattr(node, "dtype"):
        raise QbnnError(f"{path}: /{name} is not a dataset")
    return _numeric_array(np.asarray(node[()]), path, f"/{name}")


def _numeric_array(arr: np.ndarray, path, what: str) -> np.ndarray:
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or np.iscomplexobj(arr):
        raise QbnnError(f"{path}: {what} must be numeric, got {arr.dtype}")
    return arr


def round_identity(topology, args) -> dict[str, Any]:
    """What a subnetwork file must share with the round that combines it: the topology, the round,
    seed and dropout setting, and the previous round's penalties (by content)."""
    return {"topology_hash": stable_hash(topology.to_spec()), "round": int(args.round), "seed": int(args.seed),
            "p": float(args.p), "unit": str(args.unit), "margin": float(args.margin),
            "previous_hash": file_hash(args.previous) if args.previous else ""}


def check_round_identity(path, attrs: dict[str, Any], want: dict[str, Any]) -> None:
    """Refuse a subnetwork file written for another topology, round, seed, dropout setting or previous round."""
    for key, value in want.items():
        got = attrs.get(key)
        same = (isinstance(got, (int, float)) and not isinstance(got, bool) and float(got) == float(value)) \
            if isinstance(value, (int, float)) else got == value
        if not same:
            raise QbnnError(f"{path}: subnetwork of {key} {got}, this round has {key} {value} "
                            f"(another topology, round, seed, dropout setting or previous round)")
