"""Files of the dropout scheme: per-round penalties and per-job subnetwork solutions."""
from __future__ import annotations

import json
from typing import Any

import h5py
import numpy as np

from qbnn.errors import QbnnError
from qbnn.io import atomic_output, file_hash, open_h5, stable_hash
from qbnn.validate import reading, text_attr

PENALTIES_FORMAT = "qbnn-penalties"


def save_penalties(path, h: np.ndarray, attrs: dict[str, Any] | None = None, extra: dict[str, np.ndarray] | None = None) -> None:
    """Write ``/h`` (float64 ``(n_weights,)``) plus attributes, atomically."""
    with atomic_output(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = PENALTIES_FORMAT
            f.attrs["format_version"] = 1
            f.create_dataset("h", data=np.asarray(h, dtype=np.float64))
            for k, v in (extra or {}).items():
                f.create_dataset(k, data=v)
            for k, v in (attrs or {}).items():
                f.attrs[k] = json.dumps(v) if isinstance(v, (dict, list)) else v


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
    arr = np.asarray(node[()])
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or np.iscomplexobj(arr):
        raise QbnnError(f"{path}: /{name} must be numeric, got {arr.dtype}")
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


def load_penalties(path, n_weights: int | None = None) -> np.ndarray:
    """Read ``/h`` from a penalties HDF5 (checks its length against ``n_weights`` if given)."""
    with open_h5(path, "penalties file") as f, reading(path, "penalties file"):
        if "h" not in f:
            raise QbnnError(f"{path} has no /h dataset (not a penalties file)")
        h = _numeric(f["h"], path, "h").astype(np.float64).reshape(-1)
    if n_weights is not None and h.shape != (n_weights,):
        raise QbnnError(f"{path}: penalties have {h.size} entries, the network has {n_weights} weights")
    if not np.isfinite(h).all():
        raise QbnnError(f"{path}: penalties contain NaN or infinite values")
    return h
