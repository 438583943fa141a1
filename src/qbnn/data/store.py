"""The dataset record: :class:`Dataset`, one validating :meth:`Dataset.load` and one atomic
:meth:`Dataset.save` of the HDF5 file ``format="qbnn-data"`` (version 1).

Layout (see ``docs/data-format.md``)::

    /train/X  int8 (S, d) in {-1, +1}      /test/X  int8 (T, d)
    /train/y  int8 (S,)                    /test/y  int8 (T,)
    /train/index, /test/index  int64 row numbers in the source (optional)
    /val/X, /val/y, /val/index  optional validation split (``validation_size``)
    encoding "real": X float64 (scaled on the training rows; attrs scaling, scale_shift,
    scale_factor) instead of int8 ±1
    root attrs: format, format_version, source, classes (JSON), n_classes, label_encoding,
                threshold, threshold_method, seed, config_hash, config (JSON),
                image_shape (JSON [rows, cols], image data only),
                identity (JSON, qbnn.identity), provenance (JSON)

:func:`load_dataset` and :func:`write_dataset` are the names of the module functions the type replaced,
kept for callers not yet moved to it; they read and write the same files.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from qbnn.errors import QbnnError
from qbnn.identity import Identity
from qbnn.io import atomic_output, open_h5
from qbnn.validate import reading

FORMAT = "qbnn-data"
FORMAT_VERSION = 1
#: attributes stored as JSON text and held decoded (``classes`` list, ``image_shape`` list, ``config`` dict)
JSON_ATTRS = ("classes", "image_shape", "config")
#: attributes held as the record's own fields, not in ``attrs``
RECORD_ATTRS = ("identity", "provenance")
PARTS = ("train", "test", "val")


@dataclass(eq=False)  # arrays: compare field by field (tests/test_dataset_record.py)
class Dataset:
    """A dataset split into training, test and (optionally) validation rows, with its identity.

    Shapes (S training, T test, V validation rows, d features):

    * ``X_train (S, d)``, ``X_test (T, d)``, ``X_val (V, d)``: int8 in {-1, +1}; float64 (finite) for
      ``encoding: real`` (MIP training, mlp / logreg / dnn baselines and evaluation only);
    * ``y_train (S,)``, ``y_test (T,)``, ``y_val (V,)``: int8 labels, ±1 for two classes, else class
      indices ``0..C-1`` (int64 integer labels for a plain file written by another tool);
    * ``index_train (S,)``, ``index_test (T,)``, ``index_val (V,)``: int64 row numbers in the source, or None.

    ``attrs``: the file's other root attributes, JSON ones decoded (``classes`` list, ``image_shape``
    ``[rows, cols]`` or None, ``config`` dict); ``identity``: whose dataset it is (``qbnn binarise
    --dataset NAME`` sets ``dataset``); ``provenance``: versions and settings it was made with.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    attrs: dict[str, Any] = field(default_factory=dict)
    index_train: np.ndarray | None = None
    index_test: np.ndarray | None = None
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    index_val: np.ndarray | None = None
    identity: Identity = field(default_factory=Identity)
    provenance: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ views
    @property
    def encoding(self) -> str:
        """``binary`` (X int8 ±1) or ``real`` (X float64)."""
        return self.attrs.get("encoding", "binary")

    @property
    def classes(self) -> list | None:
        return self.attrs.get("classes")

    @property
    def n_features(self) -> int:
        return int(np.shape(self.X_train)[1])

    @property
    def image_shape(self) -> tuple[int, int] | None:
        s = self.attrs.get("image_shape")
        return None if s is None else (int(s[0]), int(s[1]))

    @property
    def validation(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(X_val, y_val)``, or None without a validation split."""
        return None if self.X_val is None else (self.X_val, self.y_val)

    def parts(self) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        """``part -> (X, y, index)`` of the parts present (train, test, val)."""
        out = {"train": (self.X_train, self.y_train, self.index_train),
               "test": (self.X_test, self.y_test, self.index_test)}
        if self.X_val is not None:
            out["val"] = (self.X_val, self.y_val, self.index_val)
        return out

    def as_tuple(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """``(X_train, y_train, X_test, y_test, attrs)`` as :func:`load_dataset` returns it: ``attrs`` with
        ``image_shape`` (None when absent), ``identity`` / ``provenance`` as stored, and
        ``validation = (X_val, y_val)`` when the dataset has a validation split."""
        attrs = {"image_shape": None, **self.attrs, **self._record_attrs()}
        if self.validation is not None:
            attrs["validation"] = self.validation
        return self.X_train, self.y_train, self.X_test, self.y_test, attrs

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_binarised(cls, data: dict[str, Any]) -> "Dataset":
        """The record of :func:`qbnn.data.binarise`'s result (``X_train, y_train, X_test, y_test,
        index_train, index_test, attrs``, optionally ``X_val, y_val, index_val``); ``identity`` and
        ``provenance`` in ``attrs`` become the record's own."""
        attrs = dict(data.get("attrs") or {})
        identity = Identity.read_attrs(attrs, "dataset")
        prov = _json(attrs.pop("provenance"), "provenance", "dataset") if "provenance" in attrs else {}
        attrs.pop("identity", None)
        return cls(data["X_train"], data["y_train"], data["X_test"], data["y_test"], _decoded(attrs, "dataset"),
                   data.get("index_train"), data.get("index_test"), data.get("X_val"), data.get("y_val"),
                   data.get("index_val"), identity, prov)

    # ------------------------------------------------------------------ file
    def save(self, path: str | os.PathLike) -> None:
        """Validate (what :meth:`load` would refuse is refused here, before anything is written) and write
        the file atomically (``qbnn.io.atomic_output``): no partial file on failure. X is stored as int8
        (float64 with ``encoding: real``), y as int8, indices as int64."""
        _require_classes(self.attrs, "arrays to write")
        self.check("arrays to write")
        attrs = {k: v for k, v in self.attrs.items() if not (k == "image_shape" and v is None)}
        attrs.update(self._record_attrs())
        attrs.setdefault("format", FORMAT)
        attrs.setdefault("format_version", FORMAT_VERSION)
        for k in JSON_ATTRS:
            if k in attrs and not isinstance(attrs[k], str):
                attrs[k] = json.dumps(attrs[k])
        xtype = np.float64 if self.encoding == "real" else np.int8
        with atomic_output(path, suffix=".h5.tmp") as tmp:
            with h5py.File(tmp, "w") as f:
                for part, (X, y, index) in self.parts().items():
                    g = f.create_group(part)
                    g.create_dataset("X", data=np.asarray(X, dtype=xtype))
                    g.create_dataset("y", data=np.asarray(y, dtype=np.int8))
                    if index is not None:
                        g.create_dataset("index", data=np.asarray(index, dtype=np.int64))
                for k, v in attrs.items():
                    f.attrs[k] = v

    @classmethod
    def load(cls, path: str | os.PathLike, real: bool = False) -> "Dataset":
        """Read and validate a dataset file; any deviation from the format is one :class:`QbnnError`
        naming the file and the part.

        ``real``: accept real-valued features (``encoding: real``; MIP training, the mlp / logreg / dnn
        baselines and evaluation); QUBO training needs ±1 inputs. An HDF5 file without a ``format``
        attribute (written by another tool) is read as plain arrays: ``/train/X`` and ``/train/y``,
        ``/test/X`` and ``/test/y`` if it has a ``test`` group (else an empty test split); X ±1 (any finite
        numbers with ``real=True``), y integer labels.
        """
        with reading(path, "dataset file"), open_h5(path, "dataset file") as f:
            where = f"dataset {path}"
            if f.attrs.get("format") is None:
                return _load_plain(f, where, real)
            return _load_formatted(f, where, real)

    # ------------------------------------------------------------------ validation
    def check(self, where: str) -> None:
        """The record's invariants (shapes, values, labels against ``classes``, ``image_shape``), or
        QbnnError naming ``where`` and the part. Labels are checked against ``classes`` when it is set
        (always, for a ``qbnn-data`` file)."""
        real = self.encoding == "real"
        if self.encoding not in ("binary", "real"):
            raise QbnnError(f"{where}: unknown encoding attribute {self.encoding!r} (binary or real)")
        parts = self.parts()
        for part, (X, y, index) in parts.items():
            _check_arrays(np.asarray(X), np.asarray(y), part, where, real)
            if index is not None:
                index = np.asarray(index)
                if index.shape != (len(X),) or not (np.issubdtype(index.dtype, np.integer) or index.size == 0):
                    raise QbnnError(f"{where}: {part}/index must be {len(X)} integer row numbers, got {index.dtype} "
                                    f"{index.shape}")
        d = self.n_features
        for part, (X, _, _) in parts.items():
            if np.shape(X)[1] != d:
                raise QbnnError(f"{where}: train has {d} features but {part} has {np.shape(X)[1]}")
        if len(self.X_train) == 0:
            raise QbnnError(f"{where}: empty training set")
        if "classes" in self.attrs:
            classes = self.classes
            if not isinstance(classes, list) or len(classes) < 2:
                raise QbnnError(f"{where}: attribute classes must be a JSON list of at least two classes")
            C = len(classes)
            allowed = (-1, 1) if C == 2 else tuple(range(C))
            for part, (_, y, _) in parts.items():
                if np.size(y) and not np.isin(y, allowed).all():
                    raise QbnnError(f"{where}: /{part}/y has labels outside "
                                    f"{list(allowed) if C == 2 else f'0..{C - 1}'}")
        shape = self.attrs.get("image_shape")
        if shape is not None and (not isinstance(shape, list) or len(shape) != 2
                                  or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)
                                  or shape[0] * shape[1] != d):
            raise QbnnError(f"{where}: image_shape {shape} does not match {d} pixels")

    def _record_attrs(self) -> dict[str, str]:
        """``identity`` / ``provenance`` attributes (JSON text), each only when it has content (a dataset
        binarised without ``--dataset`` has neither)."""
        out = {}
        if self.identity.to_dict():
            out["identity"] = json.dumps(self.identity.to_dict(), sort_keys=True)
        if self.provenance:
            out["provenance"] = json.dumps(self.provenance, sort_keys=True)
        return out


def _load_formatted(f: h5py.File, where: str, real: bool) -> Dataset:
    fmt = _attr(f.attrs.get("format"))
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
    arrays: dict[str, np.ndarray | None] = {}
    for part in PARTS if "val" in f else PARTS[:2]:
        for name in ("X", "y"):
            want = np.float64 if encoding == "real" and name == "X" else np.int8
            arrays[f"{name}_{part}"] = _read(f, f"{part}/{name}", where, want)
        arrays[f"index_{part}"] = _read(f, f"{part}/index", where, None) if f"{part}/index" in f else None
    attrs = {k: _attr(v) for k, v in f.attrs.items()}
    identity = Identity.read_attrs(attrs, where)
    prov = _json(attrs.pop("provenance"), "provenance", where) if "provenance" in attrs else {}
    attrs.pop("identity", None)
    attrs = _decoded(attrs, where)
    attrs.setdefault("image_shape", None)
    _require_classes(attrs, where)
    ds = Dataset(attrs=attrs, identity=identity, provenance=prov, **arrays)
    ds.check(where)
    return ds


def _load_plain(f: h5py.File, where: str, real: bool) -> Dataset:
    """A plain HDF5 dataset (no format attribute): see :meth:`Dataset.load`."""
    parts = ("train", "test") if "test" in f else ("train",)
    out = []
    for part in parts:
        for name in ("X", "y"):
            a = _read(f, f"{part}/{name}", where, None)
            if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool) or np.iscomplexobj(a):
                raise QbnnError(f"{where}: /{part}/{name} must hold real numbers, got {a.dtype}")
            out.append(a)
    if len(parts) == 1:
        width = out[0].shape[1] if out[0].ndim == 2 else 0
        out += [np.zeros((0, width), out[0].dtype), np.zeros(0, np.int64)]
    for part, X, y in zip(("train", "test"), out[0::2], out[1::2]):
        _check_arrays(X, y, part, where, real)
        if y.size and not (np.isfinite(y).all() and np.array_equal(y, np.round(y))):
            raise QbnnError(f"{where}: /{part}/y must hold integer class labels")
    xtype = np.float64 if real else np.int8
    ds = Dataset(out[0].astype(xtype), out[1].astype(np.int64), out[2].astype(xtype), out[3].astype(np.int64),
                 {"image_shape": None})
    ds.check(where)
    return ds


def _require_classes(attrs: dict[str, Any], where: str) -> None:
    """A ``qbnn-data`` file names its classes (:meth:`Dataset.check` checks the labels against them)."""
    if "classes" not in attrs:
        raise QbnnError(f"{where}: attribute classes must be a JSON list of at least two classes")


def _read(f: h5py.File, key: str, where: str, dtype) -> np.ndarray:
    """Dataset ``/key``'s array, refused unless it exists as a dataset (of ``dtype`` when given)."""
    if key not in f or not hasattr(f[key], "dtype"):
        raise QbnnError(f"{where}: missing dataset /{key}")
    ds = f[key]
    if dtype is not None and ds.dtype != dtype:
        raise QbnnError(f"{where}: /{key} has dtype {ds.dtype}, expected {np.dtype(dtype)}")
    return ds[()]


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


def _json(text: Any, key: str, where: str) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else text
    except ValueError:
        raise QbnnError(f"{where}: attribute {key} is not valid JSON") from None


def _decoded(attrs: dict[str, Any], where: str) -> dict[str, Any]:
    """``attrs`` with the :data:`JSON_ATTRS` given as JSON text decoded."""
    return {k: _json(v, k, where) if k in JSON_ATTRS else v for k, v in attrs.items()}


# ---------------------------------------------------------------------- the names the type replaced
def load_dataset(path: str | os.PathLike, real: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
    """``Dataset.load(path, real).as_tuple()``: ``(X_train, y_train, X_test, y_test, attrs)``."""
    return Dataset.load(path, real).as_tuple()


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
    """``write_dataset(path, binarise(cfg))`` or ``write_dataset(path, X_train, y_train, X_test, y_test,
    attrs)``: the :class:`Dataset` of these arrays, saved (:meth:`Dataset.save`)."""
    if isinstance(X_train, dict):
        data = dict(X_train, attrs=X_train.get("attrs", {}) if attrs is None else attrs)
    else:
        data = dict(X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test, attrs=attrs,
                    index_train=index_train, index_test=index_test)
    Dataset.from_binarised(data).save(path)
