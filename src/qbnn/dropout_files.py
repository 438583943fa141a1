"""Files of the dropout scheme: per-round penalties and per-job subnetwork solutions."""
from __future__ import annotations

from typing import Any

import numpy as np

from qbnn.errors import QbnnError

PENALTIES_FORMAT = "qbnn-penalties"


def save_penalties(path, h: np.ndarray, attrs: dict[str, Any] | None = None, extra: dict[str, np.ndarray] | None = None) -> None:
    """Write ``/h`` (float64 ``(n_weights,)``) plus attributes, atomically."""
    import json

    import h5py

    from qbnn.io import atomic_output

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
    import h5py

    from qbnn.io import atomic_output

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
    from qbnn.io import open_h5

    with open_h5(path, "subnetwork file") as f:
        if f.attrs.get("format") != SUBNETWORK_FORMAT or "map" not in f or "weights" not in f:
            raise QbnnError(f"{path}: not a dropout subnetwork file (qbnn dropout-subnetwork writes them)")
        m = np.asarray(f["map"][()], dtype=np.int64).reshape(-1)
        w = np.asarray(f["weights"][()], dtype=np.int8).reshape(-1)
        attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
    if w.shape != m.shape or not np.isin(w, (-1, 1)).all():
        raise QbnnError(f"{path}: weights must be ±1 and as long as the map")
    if m.size and (m.min() < 0 or m.max() >= n_weights or np.unique(m).size != m.size):
        raise QbnnError(f"{path}: map does not index distinct weights of a {n_weights}-weight network")
    return m, w, attrs


def load_penalties(path, n_weights: int | None = None) -> np.ndarray:
    """Read ``/h`` from a penalties HDF5 (checks its length against ``n_weights`` if given)."""
    from qbnn.io import open_h5

    with open_h5(path, "penalties file") as f:
        if "h" not in f:
            raise QbnnError(f"{path} has no /h dataset (not a penalties file)")
        h = np.asarray(f["h"][()], dtype=np.float64).reshape(-1)
    if n_weights is not None and h.shape != (n_weights,):
        raise QbnnError(f"{path}: penalties have {h.size} entries, the network has {n_weights} weights")
    if not np.isfinite(h).all():
        raise QbnnError(f"{path}: penalties contain NaN or infinite values")
    return h
