"""Dataset binarisation: source -> class selection -> (balance) -> seeded stratified split
-> threshold fitted on the training pixels -> ±1 int8 pixels and encoded labels.

See ``docs/data-format.md`` for the configuration keys and the HDF5 layout.
"""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from qbnn.errors import QbnnError
from qbnn.io import stable_hash
from qbnn.validate import SEED_MAX
from .sources import SOURCE_KEYS, load_source
from .store import FORMAT, FORMAT_VERSION

COMMON_KEYS = {
    "source",
    "classes",
    "downsample",
    "threshold",
    "threshold_method",
    "threshold_value",
    "train_size",
    "test_size",
    "seed",
    "balance",
    "encoding",
    "scaling",
    "validation_size",
}
THRESHOLD_METHODS = ("fixed", "mean", "otsu")
ENCODINGS = ("binary", "real")
SCALINGS = ("minmax", "standard", "none")


# ----------------------------------------------------------------- thresholds
def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of ``values``: maximises the between-class variance.

    Pixels ``>= t`` form the upper class.  With at most ``bins`` distinct values the
    histogram is exact (one bin per value) and ``t`` is the midpoint between the last
    value of the lower class and the first of the upper class; otherwise a ``bins``-bin
    histogram is used and ``t`` is a bin edge (the middle of the run of equally good cuts
    when empty bins make a plateau).
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise QbnnError("otsu threshold: no pixels")
    uniq, counts = np.unique(v, return_counts=True)
    if len(uniq) < 2:
        raise QbnnError(f"otsu threshold: all training pixels equal {uniq[0]:g}, nothing to separate")
    if len(uniq) <= bins:
        centers, cuts = uniq, (uniq[:-1] + uniq[1:]) / 2.0
    else:
        counts, edges = np.histogram(v, bins=bins)
        centers, cuts = (edges[:-1] + edges[1:]) / 2.0, edges[1:-1]
    w = counts.astype(np.float64)
    w0 = np.cumsum(w)[:-1]
    w1 = w.sum() - w0
    s0 = np.cumsum(w * centers)[:-1]
    s1 = (w * centers).sum() - s0
    with np.errstate(divide="ignore", invalid="ignore"):
        between = w0 * w1 * (s0 / w0 - s1 / w1) ** 2
    between = np.where((w0 > 0) & (w1 > 0), between, -1.0)
    # Empty bins make the maximum a plateau: take the middle of the first maximal run.
    best = between.max()
    top = between >= best - 1e-12 * abs(best)
    i = j = int(np.argmax(top))
    while j + 1 < len(top) and top[j + 1]:
        j += 1
    return float((cuts[i] + cuts[j]) / 2.0)


def parse_threshold(cfg: dict) -> tuple[str, float | None]:
    """Normalise the threshold settings to ``(method, value)``.

    Accepted: ``threshold: mean|otsu``, ``threshold: 0.5`` (fixed), ``threshold:
    {method: fixed, value: 8}``, or ``threshold_method`` (+ ``threshold_value``).
    """
    default = "fixed" if cfg.get("source") == "bars_and_stripes" else "mean"
    t = cfg.get("threshold")
    method: Any = cfg.get("threshold_method")
    value: Any = cfg.get("threshold_value")
    if isinstance(t, dict):
        bad = set(t) - {"method", "value"}
        if bad:
            raise QbnnError(f"threshold: unknown key(s) {', '.join(sorted(map(str, bad)))} (use method, value)")
        method = t.get("method", method)
        value = t.get("value", value)
    elif isinstance(t, bool):
        raise QbnnError(f"threshold must be a method name or a number, got {t!r}")
    elif isinstance(t, (int, float)):
        method, value = method or "fixed", t
    elif isinstance(t, str):
        method = t
    elif t is not None:
        raise QbnnError(f"threshold must be a method name, a number or {{method, value}}, got {t!r}")
    if method is None:
        method = "fixed" if value is not None else default
    if method not in THRESHOLD_METHODS:
        raise QbnnError(f"unknown threshold method {method!r} (choose from {', '.join(THRESHOLD_METHODS)})")
    if method == "fixed":
        if value is None:
            value = 0.5
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise QbnnError(f"threshold value must be a finite number, got {value!r}")
        return method, float(value)
    if value is not None:
        raise QbnnError(f"threshold value {value!r} given with method {method!r} (only 'fixed' takes a value)")
    return method, None


def fit_threshold(method: str, value: float | None, X_train: np.ndarray) -> float:
    if method == "fixed":
        return float(value)  # type: ignore[arg-type]
    if method == "mean":
        return float(np.mean(X_train))
    return otsu_threshold(X_train)


def to_pm1(X: np.ndarray, threshold: float) -> np.ndarray:
    """Pixels ``>= threshold`` -> +1, others -> -1 (int8)."""
    return np.where(X >= threshold, 1, -1).astype(np.int8)


# ------------------------------------------------------------------- downsample
def downsample_images(X: np.ndarray, target: Any) -> np.ndarray:
    """Average-pool images ``(N, r, c)`` to ``target`` (int side or ``[rows, cols]``).

    Per axis of size ``s`` and target ``t``: pooling factor ``f = s // t``; the
    ``s - f*t`` leftover pixels are cropped, half from the start (rounded down) and the
    rest from the end.  E.g. 8 -> 4: 2x2 pooling; 8 -> 6: drop the 1-pixel border.
    """
    if isinstance(target, bool):
        raise QbnnError(f"downsample must be an integer side or [rows, cols], got {target!r}")
    if isinstance(target, int):
        target = [target, target]
    if (
        not isinstance(target, (list, tuple))
        or len(target) != 2
        or not all(isinstance(t, int) and not isinstance(t, bool) for t in target)
    ):
        raise QbnnError(f"downsample must be an integer side or [rows, cols], got {target!r}")
    out = X
    for axis, t in ((1, target[0]), (2, target[1])):
        s = out.shape[axis]
        if not 1 <= t <= s:
            raise QbnnError(f"downsample: cannot reduce {X.shape[1]}x{X.shape[2]} images to {target[0]}x{target[1]}")
        f = s // t
        start = (s - f * t) // 2
        out = np.take(out, np.arange(start, start + f * t), axis=axis)
        shape = list(out.shape)
        shape[axis : axis + 1] = [t, f]
        out = out.reshape(shape).mean(axis=axis + 1)
    return out


# --------------------------------------------------------------------- classes
def _py(v: Any) -> Any:
    """numpy scalar -> plain Python (integral floats -> int)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _class_mask(y: np.ndarray, c: Any) -> np.ndarray:
    if y.dtype.kind in "biuf":
        try:
            cv = float(c)
        except (TypeError, ValueError):
            return np.zeros(len(y), dtype=bool)
        return y.astype(np.float64) == cv
    return y.astype(str) == str(c)


def select_classes(y: np.ndarray, classes: Any, source: str) -> tuple[list, np.ndarray, np.ndarray]:
    """Return (classes, row indices, class index per selected row)."""
    if classes is None:
        if y.dtype.kind == "f" and np.isnan(y).any():
            raise QbnnError(f"{source}: labels contain NaN values")
        classes = [_py(v) for v in np.unique(y)]
    if not isinstance(classes, (list, tuple)):
        raise QbnnError(f"classes must be a list, got {classes!r}")
    classes = [_py(c) for c in classes]
    if len(classes) < 2:
        raise QbnnError(f"{source}: need at least two classes, got {classes}")
    if len({str(c) for c in classes}) != len(classes):
        raise QbnnError(f"{source}: duplicate entries in classes {classes}")
    idx_parts, lab_parts = [], []
    for k, c in enumerate(classes):
        rows = np.flatnonzero(_class_mask(y, c))
        if len(rows) == 0:
            avail = [_py(v) for v in np.unique(y)[:20]]
            raise QbnnError(f"{source}: unknown class {c!r} (labels present: {avail})")
        idx_parts.append(rows)
        lab_parts.append(np.full(len(rows), k, dtype=np.int64))
    idx = np.concatenate(idx_parts)
    lab = np.concatenate(lab_parts)
    order = np.argsort(idx, kind="stable")
    return classes, idx[order], lab[order]


def balance_classes(idx: np.ndarray, lab: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Subsample every class to the size of the smallest one (seeded)."""
    rng = np.random.default_rng([seed, 0xBA1])
    n = np.bincount(lab).min()
    keep = np.concatenate([np.sort(rng.choice(np.flatnonzero(lab == k), n, replace=False)) for k in np.unique(lab)])
    keep.sort()
    return idx[keep], lab[keep]


def _size(v: Any, name: str) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise QbnnError(f"{name} must be a positive integer (a number of samples), got {v!r}")
    return v


def stratified_split(lab: np.ndarray, train_size: int | None, test_size: int | None, seed: int, source: str,
                     validation_size: int | None = None):
    """-> (train, test) row indices, or (train, validation, test) with ``validation_size``:
    the validation rows are then split off what would have been the training rows."""
    from sklearn.model_selection import train_test_split

    n = len(lab)
    if validation_size is not None:
        if train_size is not None:
            train_size += validation_size
        elif test_size is None:
            test_size = max(len(np.unique(lab)), int(round(0.25 * n)))
        if (train_size or 0) + (test_size or 0) > n:
            raise QbnnError(f"{source}: train_size + validation_size + test_size = {(train_size or 0) + (test_size or 0)} "
                            f"exceeds the {n} samples available")
        trv, te = stratified_split(lab, train_size, test_size, seed, source)
        if validation_size >= len(trv):
            raise QbnnError(f"{source}: validation_size {validation_size} leaves no training samples")
        tr, va = stratified_split(lab[trv], None, validation_size, seed, source)
        return trv[tr], trv[va], te
    if train_size is not None and test_size is not None and train_size + test_size > n:
        raise QbnnError(f"{source}: train_size + test_size = {train_size + test_size} exceeds the {n} samples available")
    if test_size is None and train_size is None:
        test_size = max(len(np.unique(lab)), int(round(0.25 * n)))
    try:
        tr, te = train_test_split(
            np.arange(n), train_size=train_size, test_size=test_size, stratify=lab, random_state=seed, shuffle=True
        )
    except ValueError as exc:
        raise QbnnError(f"{source}: cannot make a stratified split ({str(exc).splitlines()[0]})") from None
    return tr, te


# ------------------------------------------------------------------ main entry
def validate_config(cfg: Any) -> dict:
    if not isinstance(cfg, dict):
        raise QbnnError(f"dataset settings must be a mapping, got {type(cfg).__name__}")
    src = cfg.get("source")
    if src is None:
        raise QbnnError("dataset settings need 'source'")
    if src not in SOURCE_KEYS:
        raise QbnnError(f"unknown source {src!r} (choose from {', '.join(SOURCE_KEYS)})")
    unknown = set(cfg) - COMMON_KEYS - SOURCE_KEYS[src]
    if unknown:
        raise QbnnError(f"unknown key(s) for source {src}: {', '.join(sorted(map(str, unknown)))}")
    seed = cfg.get("seed", 0)

    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise QbnnError(f"seed must be an integer in 0..{SEED_MAX}, got {seed!r}")
    if not isinstance(cfg.get("balance", False), bool):
        raise QbnnError(f"balance must be true or false, got {cfg['balance']!r}")
    encoding = cfg.get("encoding", "binary")
    if encoding not in ENCODINGS:
        raise QbnnError(f"encoding must be one of {', '.join(ENCODINGS)}, got {encoding!r}")
    if cfg.get("scaling", "minmax") not in SCALINGS:
        raise QbnnError(f"scaling must be one of {', '.join(SCALINGS)}, got {cfg['scaling']!r}")
    if encoding == "real":
        bad = {"threshold", "threshold_method", "threshold_value"} & set(cfg)
        if bad:
            raise QbnnError(f"{', '.join(sorted(bad))} given with encoding: real (real features are scaled, not thresholded)")
    elif "scaling" in cfg:
        raise QbnnError("scaling applies to encoding: real only (binary data is thresholded)")
    return cfg


def fit_scaling(method: str, X_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature ``(shift, scale)`` fitted on the training rows: ``(X - shift) / scale`` maps the
    training range to [0, 1] (``minmax``) or to mean 0 / std 1 (``standard``); constant features
    get scale 1 (they stay constant); ``none`` is the identity."""
    d = X_train.shape[1]
    if method == "none":
        return np.zeros(d), np.ones(d)
    if method == "minmax":
        shift, scale = X_train.min(axis=0), X_train.max(axis=0) - X_train.min(axis=0)
    else:
        shift, scale = X_train.mean(axis=0), X_train.std(axis=0)
    return shift, np.where(scale > 0, scale, 1.0)


def binarise(config: dict) -> dict:
    """Build a binarised dataset from a settings mapping (see ``docs/data-format.md``).

    Returns ``{"X_train", "y_train", "X_test", "y_test", "index_train", "index_test",
    "attrs"}`` (plus ``X_val``, ``y_val``, ``index_val`` with ``validation_size``): X int8
    ``(S, d)`` in ±1 (``encoding: real``: float64, scaled by a rule fitted on the training
    rows), y int8 (±1 for two classes, else class index),
    ``index_*`` the row numbers in the source, ``attrs`` the HDF5 root attributes.
    """
    cfg = validate_config(config)
    src = cfg["source"]
    seed = int(cfg.get("seed", 0))
    method, value = parse_threshold(cfg)
    train_size = _size(cfg.get("train_size"), "train_size")
    test_size = _size(cfg.get("test_size"), "test_size")

    X, y, image_shape = load_source(cfg)
    if len(X) == 0:
        raise QbnnError(f"{src}: no samples")
    if not np.isfinite(X).all():
        bad = int(np.flatnonzero(~np.isfinite(X.reshape(len(X), -1)).all(axis=1))[0])
        raise QbnnError(f"{src}: features contain NaN/infinite values (first in sample {bad})")
    if X.ndim == 2 and image_shape is not None:
        X = X.reshape(len(X), *image_shape)
    if cfg.get("downsample") is not None:
        if X.ndim != 3:
            raise QbnnError(f"{src}: downsample needs image data (give image_shape for flat data)")
        X = downsample_images(X, cfg["downsample"])
    if X.ndim == 3:
        image_shape = (X.shape[1], X.shape[2])
    X = X.reshape(len(X), -1)

    classes, idx, lab = select_classes(np.asarray(y), cfg.get("classes"), src)
    if cfg.get("balance", False):
        idx, lab = balance_classes(idx, lab, seed)
    validation_size = _size(cfg.get("validation_size"), "validation_size")
    parts = stratified_split(lab, train_size, test_size, seed, src, validation_size)
    tr, te = parts[0], parts[-1]
    C = len(classes)
    if C > 127:
        raise QbnnError(f"{src}: at most 127 classes supported, got {C}")
    enc = np.array([-1, 1], dtype=np.int8) if C == 2 else np.arange(C, dtype=np.int8)
    real = cfg.get("encoding", "binary") == "real"
    if real:  # scaled on the training rows only: validation/test never inform the transform
        scaling = cfg.get("scaling", "minmax")
        shift, scale = fit_scaling(scaling, X[idx[tr]])

        def encode(rows):
            return (X[idx[rows]] - shift) / scale
        threshold = None
    else:
        threshold = fit_threshold(method, value, X[idx[tr]])

        def encode(rows):
            return to_pm1(X[idx[rows]], threshold)
    attrs: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "source": src,
        "classes": json.dumps(classes),
        "n_classes": C,
        "label_encoding": "pm1" if C == 2 else "index",
        "encoding": "real" if real else "binary",
        "seed": seed,
        "config_hash": stable_hash(config),
        "config": json.dumps(config, sort_keys=True, default=str),
    }
    if real:
        attrs.update(scaling=scaling, scale_shift=json.dumps(shift.tolist()), scale_factor=json.dumps(scale.tolist()))
    else:
        attrs.update(threshold=float(threshold), threshold_method=method)
    if image_shape is not None:
        attrs["image_shape"] = json.dumps([int(image_shape[0]), int(image_shape[1])])
    out = {
        "X_train": encode(tr),
        "y_train": enc[lab[tr]],
        "X_test": encode(te),
        "y_test": enc[lab[te]],
        "index_train": idx[tr].astype(np.int64),
        "index_test": idx[te].astype(np.int64),
        "attrs": attrs,
    }
    if validation_size is not None:
        va = parts[1]
        out.update(X_val=encode(va), y_val=enc[lab[va]], index_val=idx[va].astype(np.int64))
    return out
