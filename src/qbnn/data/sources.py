"""Raw data sources: each returns real-valued features, raw labels and an image shape.

A source loader returns ``(X, y, image_shape)`` where ``X`` is float64 of shape
``(N, rows, cols)`` for images or ``(N, d)`` for flat data, ``y`` a 1-D array of raw labels
(numbers or strings) and ``image_shape`` ``(rows, cols)`` or ``None``.
Bad inputs raise :class:`qbnn.errors.QbnnError` naming the file / key / column.
"""
from __future__ import annotations

import gzip
import os
import zipfile
from typing import Any

import numpy as np

from qbnn.errors import QbnnError
from qbnn.io import require_file

# Keys each source accepts on top of the common ones (see binarise.COMMON_KEYS).
SOURCE_KEYS: dict[str, set[str]] = {
    "digits": set(),
    "iris": set(),
    "wine": set(),
    "breast_cancer": set(),
    "bars_and_stripes": {"size", "noise", "n_samples"},
    "idx": {"images", "labels"},
    "npz": {"path", "x_key", "y_key", "image_shape"},
    "csv": {"path", "label_column", "image_shape", "delimiter", "header"},
}

Loaded = tuple[np.ndarray, np.ndarray, "tuple[int, int] | None"]


# ---------------------------------------------------------------------- digits
def load_digits_source(cfg: dict) -> Loaded:
    from sklearn.datasets import load_digits

    d = load_digits()
    return np.asarray(d.images, dtype=np.float64), np.asarray(d.target), (8, 8)


# scikit-learn's bundled tabular sets (no download): iris 150 x 4, wine 178 x 13,
# breast cancer (WDBC) 569 x 30 -- not the original 699 x 9 Wisconsin set (use its csv)
def _sklearn_table(name: str):
    def load(cfg: dict) -> Loaded:
        import sklearn.datasets as skd

        X, y = getattr(skd, f"load_{name}")(return_X_y=True)
        return np.asarray(X, dtype=np.float64), np.asarray(y), None

    return load


# ------------------------------------------------------------ bars and stripes
def bars_and_stripes_patterns(n: int) -> tuple[np.ndarray, np.ndarray]:
    """All distinct n×n bars (constant columns) and stripes (constant rows) patterns.

    The all-0 and all-1 images are both bars and stripes, so they are left out:
    ``2 * (2**n - 2)`` patterns, values 0/1, labels ``"bars"`` / ``"stripes"``.
    """
    codes = np.arange(1, 2**n - 1)
    bits = ((codes[:, None] >> np.arange(n)[None, :]) & 1).astype(np.float64)  # (m, n)
    bars = np.repeat(bits[:, None, :], n, axis=1)  # every row equals bits -> constant columns
    stripes = np.repeat(bits[:, :, None], n, axis=2)  # every column equals bits -> constant rows
    X = np.concatenate([bars, stripes])
    y = np.array(["bars"] * len(bars) + ["stripes"] * len(stripes))
    return X, y


def load_bars_and_stripes(cfg: dict) -> Loaded:
    n = cfg.get("size", 4)
    if not isinstance(n, int) or isinstance(n, bool) or not 2 <= n <= 16:
        raise QbnnError(f"bars_and_stripes: size must be an integer in 2..16, got {n!r}")
    noise = cfg.get("noise", 0.0)
    if not isinstance(noise, (int, float)) or isinstance(noise, bool) or not 0.0 <= noise < 0.5:
        raise QbnnError(f"bars_and_stripes: noise must be a flip probability in [0, 0.5), got {noise!r}")
    X, y = bars_and_stripes_patterns(n)
    rng = np.random.default_rng([int(cfg.get("seed", 0) or 0), 0xBA5])
    n_samples = cfg.get("n_samples")
    if n_samples is not None:
        if not isinstance(n_samples, int) or isinstance(n_samples, bool) or n_samples < 4:
            raise QbnnError(f"bars_and_stripes: n_samples must be an integer >= 4, got {n_samples!r}")
        # Half bars, half stripes, patterns drawn uniformly with replacement.
        half = len(X) // 2
        n_bars = n_samples // 2
        pick = np.concatenate(
            [rng.integers(0, half, n_bars), half + rng.integers(0, half, n_samples - n_bars)]
        )
        X, y = X[pick], y[pick]
    if noise > 0:
        flip = rng.random(X.shape) < noise
        X = np.where(flip, 1.0 - X, X)
    return X, y, (n, n)


# ------------------------------------------------------------------------ IDX
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse an IDX file (MNIST format), gzip-compressed or not."""
    p = require_file(path, "IDX file")
    raw = p.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise QbnnError(f"IDX file {p}: corrupt gzip data ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise QbnnError(f"IDX file {p}: bad magic number (not an IDX file)")
    dtype = _IDX_DTYPES[raw[2]]
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise QbnnError(f"IDX file {p}: truncated header")
    dims = tuple(int(v) for v in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    count = int(np.prod(dims))
    expected = header + count * dtype.itemsize
    if len(raw) != expected:
        raise QbnnError(f"IDX file {p}: expected {expected} bytes for shape {dims}, found {len(raw)}")
    return np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def load_idx_source(cfg: dict) -> Loaded:
    for key in ("images", "labels"):
        if not cfg.get(key):
            raise QbnnError(f"idx source needs '{key}' (path to the *-{key}-idx*-ubyte[.gz] file)")
    images = read_idx(cfg["images"])
    labels = read_idx(cfg["labels"])
    if images.ndim not in (2, 3):
        raise QbnnError(f"IDX images {cfg['images']}: expected 3 dimensions (N, rows, cols), got shape {images.shape}")
    if labels.ndim != 1:
        raise QbnnError(f"IDX labels {cfg['labels']}: expected 1 dimension, got shape {labels.shape}")
    if len(images) != len(labels):
        raise QbnnError(
            f"IDX files disagree: {len(images)} images in {cfg['images']} but {len(labels)} labels in {cfg['labels']}"
        )
    shape = tuple(images.shape[1:]) if images.ndim == 3 else None
    return images.astype(np.float64), labels, shape


# ------------------------------------------------------------------------ NPZ
def _image_shape_option(cfg: dict, d: int, where: str) -> tuple[int, int] | None:
    shape = cfg.get("image_shape")
    if shape is None:
        return None
    if (
        not isinstance(shape, (list, tuple))
        or len(shape) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)
    ):
        raise QbnnError(f"{where}: image_shape must be [rows, cols], got {shape!r}")
    if shape[0] * shape[1] != d:
        raise QbnnError(f"{where}: image_shape {list(shape)} does not match {d} features")
    return int(shape[0]), int(shape[1])


def load_npz_source(cfg: dict) -> Loaded:
    if not cfg.get("path"):
        raise QbnnError("npz source needs 'path'")
    p = require_file(cfg["path"], "NPZ file")
    xk, yk = cfg.get("x_key", "X"), cfg.get("y_key", "y")
    try:
        with np.load(p, allow_pickle=False) as f:
            keys = list(f.keys())
            for k in (xk, yk):
                if k not in keys:
                    raise QbnnError(f"NPZ file {p}: no array '{k}' (has {', '.join(keys) or 'none'})")
            X, y = f[xk], f[yk]
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise QbnnError(f"NPZ file {p}: unreadable ({exc.__class__.__name__}: {exc})") from None
    if X.dtype.kind not in "biuf":
        raise QbnnError(f"NPZ file {p}: array '{xk}' is not numeric (dtype {X.dtype})")
    if X.ndim not in (2, 3):
        raise QbnnError(f"NPZ file {p}: array '{xk}' must have shape (N, d) or (N, rows, cols), got {X.shape}")
    if y.ndim != 1 or len(y) != len(X):
        raise QbnnError(f"NPZ file {p}: array '{yk}' must have shape ({len(X)},), got {y.shape}")
    X = X.astype(np.float64)
    if X.ndim == 3:
        return X, y, (X.shape[1], X.shape[2])
    return X, y, _image_shape_option(cfg, X.shape[1], f"NPZ file {p}")


# ------------------------------------------------------------------------ CSV
def load_csv_source(cfg: dict) -> Loaded:
    import pandas as pd

    if not cfg.get("path"):
        raise QbnnError("csv source needs 'path'")
    p = require_file(cfg["path"], "CSV file")
    delimiter = cfg.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\"\r\n":
        raise QbnnError(f"CSV file {p}: delimiter must be one character (e.g. ';'), got {delimiter!r}")
    header = cfg.get("header", True)
    if not isinstance(header, bool):
        raise QbnnError(f"CSV file {p}: header must be true or false, got {header!r}")
    try:
        # without a header row the columns are named by their index (0, 1, ...)
        df = pd.read_csv(p, sep=delimiter, header=0 if header else None)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise QbnnError(f"CSV file {p}: unreadable ({exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    if df.shape[1] < 2 or len(df) == 0:
        raise QbnnError(f"CSV file {p}: needs {'a header, ' if header else ''}at least one feature column, "
                        f"a label column and rows (delimiter {delimiter!r})")
    lc: Any = cfg.get("label_column")
    columns = [str(c) for c in df.columns]
    if lc is None:
        label = "label" if "label" in columns else columns[-1]
    elif isinstance(lc, int) and not isinstance(lc, bool):
        if not -len(columns) <= lc < len(columns):
            raise QbnnError(f"CSV file {p}: label_column index {lc} out of range ({len(columns)} columns)")
        label = columns[lc]
    elif str(lc) in columns:
        label = str(lc)
    else:
        raise QbnnError(f"CSV file {p}: no label column '{lc}' (columns: {', '.join(columns[:10])}{'...' if len(columns) > 10 else ''})")
    df.columns = columns
    feats = [c for c in columns if c != label]
    for c in feats:
        if not pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]):
            raise QbnnError(f"CSV file {p}: feature column '{c}' is not numeric")
    y = df[label].to_numpy()
    if y.dtype == object:
        if df[label].isna().any():
            raise QbnnError(f"CSV file {p}: label column '{label}' has missing values")
        y = y.astype(str)
    X = df[feats].to_numpy(dtype=np.float64)
    return X, y, _image_shape_option(cfg, X.shape[1], f"CSV file {p}")


LOADERS = {
    "digits": load_digits_source,
    "iris": _sklearn_table("iris"),
    "wine": _sklearn_table("wine"),
    "breast_cancer": _sklearn_table("breast_cancer"),
    "bars_and_stripes": load_bars_and_stripes,
    "idx": load_idx_source,
    "npz": load_npz_source,
    "csv": load_csv_source,
}


def load_source(cfg: dict) -> Loaded:
    """Dispatch on ``cfg['source']``."""
    src = cfg.get("source")
    if src not in LOADERS:
        raise QbnnError(f"unknown source {src!r} (choose from {', '.join(LOADERS)})")
    return LOADERS[src](cfg)


__all__ = ["LOADERS", "SOURCE_KEYS", "bars_and_stripes_patterns", "load_source", "read_idx"]
