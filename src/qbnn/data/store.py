"""The binarised-dataset HDF5 file (``format="qbnn-data"``, version 1): write and load.

Layout (see ``docs/data-format.md``)::

    /train/X  int8 (S, d) in {-1, +1}      /test/X  int8 (T, d)
    /train/y  int8 (S,)                    /test/y  int8 (T,)
    /train/index, /test/index  int64 row numbers in the source (optional)
    /val/X, /val/y, /val/index  optional validation split (``validation_size``)
    encoding "real": X float64 (scaled on the training rows; attrs scaling, scale_shift,
    scale_factor) instead of int8 ±1
    root attrs: format, format_version, source, classes (JSON), n_classes, label_encoding,
                threshold, threshold_method, seed, config_hash, config (JSON),
                image_shape (JSON [rows, cols], image data only)
"""
from __future__ import annotations

import json
import os
from typing import Any

import h5py
import numpy as np

from qbnn.errors import QbnnError
from qbnn.io import atomic_output, open_h5
from qbnn.validate import reading

FORMAT = "qbnn-data"
FORMAT_VERSION = 1
JSON_ATTRS = ("classes", "image_shape", "config")


def write_dataset(
    path: str | os.PathLike,
    X_train: Any,
    y_train: np.ndarray | None = None,
    X_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    attrs: dict | None = None,
    *,
    index_train: np.ndarray | None = None,
    index_test: np.ndarray | None = None,
) -> None:
    """Write a dataset atomically (no partial file on failure).

    Either ``write_dataset(path, binarise(cfg))`` or
    ``write_dataset(path, X_train, y_train, X_test, y_test, attrs)``.
    """
    arrays = {}
    if isinstance(X_train, dict):
        d = X_train
        X_train, y_train, X_test, y_test = d["X_train"], d["y_train"], d["X_test"], d["y_test"]
        attrs = d.get("attrs", {}) if attrs is None else attrs
        index_train, index_test = d.get("index_train"), d.get("index_test")
        if "X_val" in d:  # optional validation split (``validation_size``)
            arrays["val"] = (d["X_val"], d["y_val"], d.get("index_val"))
    attrs = dict(attrs or {})
    attrs.setdefault("format", FORMAT)
    attrs.setdefault("format_version", FORMAT_VERSION)
    for k in JSON_ATTRS:
        if k in attrs and not isinstance(attrs[k], str):
            attrs[k] = json.dumps(attrs[k])
    arrays = {"train": (X_train, y_train, index_train), "test": (X_test, y_test, index_test), **arrays}
    real = attrs.get("encoding") == "real"
    for part, (X, y, _) in arrays.items():
        _check_arrays(np.asarray(X), np.asarray(y), part, "arrays to write", real)
    with atomic_output(path, suffix=".h5.tmp") as tmp:
        with h5py.File(tmp, "w") as f:
            for part, (X, y, index) in arrays.items():
                g = f.create_group(part)
                g.create_dataset("X", data=np.asarray(X, dtype=np.float64 if real else np.int8))
                g.create_dataset("y", data=np.asarray(y, dtype=np.int8))
                if index is not None:
                    g.create_dataset("index", data=np.asarray(index, dtype=np.int64))
            for k, v in attrs.items():
                f.attrs[k] = v


def _check_arrays(X: np.ndarray, y: np.ndarray, part: str, where: str, real: bool = False) -> None:
    if X.ndim != 2:
        raise QbnnError(f"{where}: {part}/X must be 2-D (samples x pixels), got shape {X.shape}")
    if y.ndim != 1 or len(y) != len(X):
        raise QbnnError(f"{where}: {part}/y shape {y.shape} does not match {part}/X shape {X.shape}")
    if real:
        if X.size and not np.isfinite(X).all():
            raise QbnnError(f"{where}: {part}/X has NaN or infinite values")
    elif X.size and not np.isin(X, (-1, 1)).all():
        raise QbnnError(f"{where}: {part}/X has values other than -1/+1")


def _attr(v: Any) -> Any:
    if isinstance(v, bytes):
        v = v.decode()
    if isinstance(v, np.generic):
        v = v.item()
    return v


def load_dataset(path: str | os.PathLike, real: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
    """Load and validate a dataset -> ``(X_train, y_train, X_test, y_test, attrs)``.

    X are int8 ±1 ``(S, d)`` (``encoding: real`` files: float64, accepted only with
    ``real=True`` -- MIP training, baselines and evaluation; QUBO training needs ±1 inputs);
    y int8 (±1 for two classes, else class index 0..C-1); ``attrs`` has JSON attributes
    decoded (``classes`` list, ``image_shape`` list or None) and, when the file has a
    validation split, ``attrs["validation"] = (X_val, y_val)``.
    Any deviation from the format raises :class:`QbnnError` naming the file and the part.

    This is the one dataset reader of QUBO and MIP training, the baselines and evaluation. An HDF5
    file without a ``format`` attribute (written by another tool) is read as plain arrays:
    ``/train/X`` and ``/train/y``, ``/test/X`` and ``/test/y`` if it has a ``test`` group (else an
    empty test split); X ±1 (any finite numbers with ``real=True``), y integer labels.
    """
    with reading(path, "dataset file"):
        return _load_dataset(path, real)


def _load_dataset(path, real=False):
    where = f"dataset {path}"
    with open_h5(path, "dataset file") as f:
        fmt = _attr(f.attrs.get("format"))
        if fmt is None:
            return _load_plain(f, where, real)
        if not (isinstance(fmt, str) and fmt == FORMAT):
            raise QbnnError(f"{where}: not a qbnn dataset (format attribute {fmt!r}, expected {FORMAT!r})")
        version = _attr(f.attrs.get("format_version"))
        if not (isinstance(version, int) and not isinstance(version, bool) and version == FORMAT_VERSION):
            raise QbnnError(f"{where}: unsupported format_version {version!r} (expected {FORMAT_VERSION})")
        encoding = _attr(f.attrs.get("encoding", "binary"))
        if encoding not in ("binary", "real"):
            raise QbnnError(f"{where}: unknown encoding attribute {encoding!r} (binary or real)")
        if encoding == "real" and not real:
            raise QbnnError(f"{where}: real-valued features (encoding: real), but QUBO training and the BNN "
                            "baselines (ste, greedy) need a binarised ±1 dataset (encoding: binary); MIP training, "
                            "mlp, logreg and dnn take real data")
        out = []
        parts = ("train", "test", "val") if "val" in f else ("train", "test")
        for part in parts:
            for name in ("X", "y"):
                key = f"{part}/{name}"
                if key not in f or not hasattr(f[key], "dtype"):
                    raise QbnnError(f"{where}: missing dataset /{key}")
                ds = f[key]
                want = np.float64 if encoding == "real" and name == "X" else np.int8
                if ds.dtype != want:
                    raise QbnnError(f"{where}: /{key} has dtype {ds.dtype}, expected {np.dtype(want)}")
                out.append(ds[()])
        attrs = {k: _attr(v) for k, v in f.attrs.items()}
    Xtr, ytr, Xte, yte = out[:4]
    for part, X, y in zip(parts, out[0::2], out[1::2]):
        _check_arrays(X, y, part, where, encoding == "real")
    if len(out) == 6:
        if out[4].shape[1] != Xtr.shape[1]:
            raise QbnnError(f"{where}: train has {Xtr.shape[1]} features but val has {out[4].shape[1]}")
        attrs["validation"] = (out[4], out[5])
    if Xtr.shape[1] != Xte.shape[1]:
        raise QbnnError(f"{where}: train has {Xtr.shape[1]} pixels but test has {Xte.shape[1]}")
    if len(Xtr) == 0:
        raise QbnnError(f"{where}: empty training set")
    for k in JSON_ATTRS:
        if k in attrs:
            try:
                attrs[k] = json.loads(attrs[k])
            except (TypeError, ValueError):
                raise QbnnError(f"{where}: attribute {k} is not valid JSON") from None
    attrs.setdefault("image_shape", None)
    classes = attrs.get("classes")
    if not isinstance(classes, list) or len(classes) < 2:
        raise QbnnError(f"{where}: attribute classes must be a JSON list of at least two classes")
    C = len(classes)
    allowed = (-1, 1) if C == 2 else tuple(range(C))
    for part, y in zip(parts, out[1::2]):
        if y.size and not np.isin(y, allowed).all():
            raise QbnnError(f"{where}: /{part}/y has labels outside {list(allowed) if C == 2 else f'0..{C - 1}'}")
    shape = attrs["image_shape"]
    if shape is not None and (not isinstance(shape, list) or len(shape) != 2
                              or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)
                              or shape[0] * shape[1] != Xtr.shape[1]):
        raise QbnnError(f"{where}: image_shape {shape} does not match {Xtr.shape[1]} pixels")
    return Xtr, ytr, Xte, yte, attrs


def _load_plain(f: h5py.File, where: str, real: bool):
    """A plain HDF5 dataset (no format attribute): see :func:`load_dataset`."""
    parts = ("train", "test") if "test" in f else ("train",)
    out = []
    for part in parts:
        for name in ("X", "y"):
            key = f"{part}/{name}"
            if key not in f or not hasattr(f[key], "dtype"):
                raise QbnnError(f"{where}: missing dataset /{key}")
            a = f[key][()]
            if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool) or np.iscomplexobj(a):
                raise QbnnError(f"{where}: /{key} must hold real numbers, got {a.dtype}")
            out.append(a)
    if len(parts) == 1:
        width = out[0].shape[1] if out[0].ndim == 2 else 0
        out += [np.zeros((0, width), out[0].dtype), np.zeros(0, np.int64)]
    for part, X, y in zip(("train", "test"), out[0::2], out[1::2]):
        _check_arrays(X, y, part, where, real)
        if y.size and not (np.isfinite(y).all() and np.array_equal(y, np.round(y))):
            raise QbnnError(f"{where}: /{part}/y must hold integer class labels")
    Xtr, ytr, Xte, yte = out
    if Xtr.shape[1] != Xte.shape[1]:
        raise QbnnError(f"{where}: train has {Xtr.shape[1]} features but test has {Xte.shape[1]}")
    if len(Xtr) == 0:
        raise QbnnError(f"{where}: empty training set")
    xtype = np.float64 if real else np.int8
    return (Xtr.astype(xtype), ytr.astype(np.int64), Xte.astype(xtype), yte.astype(np.int64),
            {"image_shape": None})
