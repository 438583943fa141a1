"""The QUBO container every stage speaks (compiler writes it, solvers read it).

Energy convention: binary ``x ∈ {0,1}^n``,
``E(x) = offset + Σ_i linear_i x_i + Σ_{i<j} Q_ij x_i x_j``
with ``Q`` stored as upper-triangular COO (``rows < cols``, no duplicates).

Every variable carries a map entry (kind, sample, neuron, edge, bit) so solutions can
be decoded; ``-1`` means "not applicable". See ``docs/qubo-format.md``.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np
import scipy.sparse as sp

from qbnn.errors import QbnnError
from qbnn.io import atomic_output, open_h5
from qbnn.validate import int_attr, json_attr, reading, text_attr

#: Variable kinds, in code order (the HDF5 stores codes and this list as an attribute).
VAR_KINDS = ("weight", "activation", "product", "slack", "error", "aux")
VARMAP_FIELDS = ("kind", "sample", "neuron", "edge", "bit")
QUBO_FORMAT_VERSION = 1
# memory estimate of a QUBO in memory: rows, cols int64 + values float64 per nonzero; linear + varmap
# fields per variable
QUBO_BYTES_PER_NNZ = 24
QUBO_BYTES_PER_VAR = 8 + 5 * 4


@dataclass
class QUBO:
    """A binary quadratic model with a variable map.

    Attributes
    ----------
    linear : float64 ``(n,)``
    rows, cols : int64 ``(m,)`` with ``rows < cols`` (upper triangle, unique pairs)
    values : float64 ``(m,)``
    offset : float
    varmap : dict of ``VARMAP_FIELDS`` -> int32 ``(n,)`` (``kind`` indexes ``VAR_KINDS``)
    attrs : free-form provenance (JSON-serialisable), stored as HDF5 attributes
    """

    linear: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    offset: float = 0.0
    varmap: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.linear = np.ascontiguousarray(self.linear, dtype=np.float64)
        self.rows = np.asarray(self.rows, dtype=np.int64)
        self.cols = np.asarray(self.cols, dtype=np.int64)
        self.values = np.asarray(self.values, dtype=np.float64)
        self.offset = float(self.offset)
        n = self.linear.shape[0]
        if self.linear.ndim != 1:
            raise QbnnError("QUBO linear terms must be a 1-D array")
        if not (self.rows.shape == self.cols.shape == self.values.shape):
            raise QbnnError("QUBO rows/cols/values must have equal lengths")
        if len(self.rows) and (self.rows.min() < 0 or self.cols.max() >= n or np.any(self.rows >= self.cols)):
            raise QbnnError("QUBO quadratic terms must be upper-triangular (0 <= row < col < n)")
        if not (np.isfinite(self.linear).all() and np.isfinite(self.values).all() and np.isfinite(self.offset)):
            raise QbnnError("QUBO contains NaN or infinite coefficients")
        if not self.varmap:
            self.varmap = {f: np.full(n, -1, dtype=np.int32) for f in VARMAP_FIELDS}
            self.varmap["kind"][:] = VAR_KINDS.index("aux")
        for f in VARMAP_FIELDS:
            if f not in self.varmap or len(self.varmap[f]) != n:
                raise QbnnError(f"QUBO variable map field {f!r} missing or of wrong length")
            self.varmap[f] = np.asarray(self.varmap[f], dtype=np.int32)

    # --------------------------------------------------------------- builders
    @classmethod
    def from_coo(cls, n: int, linear, rows, cols, values, offset: float = 0.0, **kw) -> "QUBO":
        """Build from unordered, possibly duplicated COO terms (diagonal entries go to linear)."""
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        values = np.asarray(values, dtype=np.float64)
        lin = np.zeros(n, dtype=np.float64) + np.asarray(linear, dtype=np.float64)
        diag = rows == cols
        np.add.at(lin, rows[diag], values[diag])
        r, c, v = rows[~diag], cols[~diag], values[~diag]
        lo, hi = np.minimum(r, c), np.maximum(r, c)
        m = sp.coo_matrix((v, (lo, hi)), shape=(n, n)).tocsr()  # sums duplicates
        m.eliminate_zeros()
        m = m.tocoo()
        return cls(lin, m.row, m.col, m.data, offset, **kw)

    # ------------------------------------------------------------------ sizes
    @property
    def num_variables(self) -> int:
        return int(self.linear.shape[0])

    @property
    def num_interactions(self) -> int:
        return int(self.values.shape[0])

    def upper_csr(self) -> sp.csr_matrix:
        """Upper-triangular quadratic part as CSR ``(n, n)``."""
        n = self.num_variables
        return sp.csr_matrix((self.values, (self.rows, self.cols)), shape=(n, n))

    def to_dense(self) -> np.ndarray:
        """Dense upper-triangular matrix with ``linear`` on the diagonal (float64)."""
        Q = self.upper_csr().toarray()
        Q[np.diag_indices_from(Q)] += self.linear
        return Q

    def indices(self, kind: str) -> np.ndarray:
        """Variable indices of one kind (e.g. ``"weight"``), in index order."""
        return np.flatnonzero(self.varmap["kind"] == VAR_KINDS.index(kind))

    # ----------------------------------------------------------------- energy
    def energy(self, x: np.ndarray) -> np.ndarray | float:
        """Energy of one state ``(n,)`` or a batch ``(R, n)`` of 0/1 states (float64)."""
        X, single = state_batch(x, self.num_variables, np.float64)
        quad = np.asarray((self.upper_csr().T @ X.T).T * X).sum(axis=1)  # Σ_{i<j} Q_ij x_i x_j
        E = self.offset + X @ self.linear + quad
        return float(E[0]) if single else E

    # ---------------------------------------------------------------- storage
    def save(self, path: str | os.PathLike, extra: dict[str, np.ndarray] | None = None) -> None:
        """Write the QUBO HDF5 atomically (schema in ``docs/qubo-format.md``).

        ``extra`` maps dataset paths (e.g. ``"topology/weights"``) to arrays stored beside it.
        """
        with atomic_output(path) as tmp:
            with h5py.File(tmp, "w") as f:
                f.attrs["format"] = "qbnn-qubo"
                f.attrs["format_version"] = QUBO_FORMAT_VERSION
                g = f.create_group("qubo")
                g.attrs["offset"] = self.offset
                g.attrs["num_variables"] = self.num_variables
                g.create_dataset("linear", data=self.linear, compression="gzip", compression_opts=1)
                for name in ("rows", "cols", "values"):
                    g.create_dataset(name, data=getattr(self, name), compression="gzip", compression_opts=1)
                vm = f.create_group("varmap")
                vm.attrs["kinds"] = json.dumps(list(VAR_KINDS))
                for name in VARMAP_FIELDS:
                    vm.create_dataset(name, data=self.varmap[name], compression="gzip", compression_opts=1)
                for k, v in self.attrs.items():
                    f.attrs[k] = json.dumps(v) if isinstance(v, (dict, list, tuple)) else v
                for name, arr in (extra or {}).items():
                    f.create_dataset(name, data=arr)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "QUBO":
        """Read a QUBO HDF5 written by :meth:`save`; any malformed part is one QbnnError naming the file."""
        with open_h5(path, "QUBO file") as f, reading(path, "QUBO file"):
            if text_attr(f.attrs.get("format")) != "qbnn-qubo":
                raise QbnnError(f"{path} is not a qbnn QUBO file (format attribute missing)")
            version = int_attr(f.attrs.get("format_version", 0), "format_version")
            if version > QUBO_FORMAT_VERSION:
                raise QbnnError(f"{path} has QUBO format version {version}; this qbnn reads up to {QUBO_FORMAT_VERSION}")
            arrays = {}
            for name in ("qubo/linear", "qubo/rows", "qubo/cols", "qubo/values") + tuple(f"varmap/{v}" for v in VARMAP_FIELDS):
                if name not in f or not hasattr(f[name], "dtype"):
                    raise QbnnError(f"{path} lacks dataset /{name}")
                arr = f[name][()]
                if np.ndim(arr) != 1 or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
                    raise QbnnError(f"{path}: /{name} must be a 1-D numeric array, got {arr.dtype} {np.shape(arr)}")
                arrays[name] = arr
            if "offset" not in f["qubo"].attrs:
                raise QbnnError(f"{path}: /qubo lacks the offset attribute")
            offset = float(np.asarray(f["qubo"].attrs["offset"]).item())
            kinds = json_attr(f["varmap"].attrs.get("kinds", json.dumps(list(VAR_KINDS))), "varmap/kinds")
            if not isinstance(kinds, list) or list(kinds) != list(VAR_KINDS)[: len(kinds)]:
                raise QbnnError(f"{path} uses variable kinds {kinds} unknown to this qbnn")
            attrs = {}
            for k, v in f.attrs.items():
                if k in ("format", "format_version"):
                    continue
                v = v.decode() if isinstance(v, bytes) else v
                if isinstance(v, str) and v[:1] in "[{":
                    try:
                        v = json.loads(v)
                    except json.JSONDecodeError:
                        pass
                attrs[k] = v.item() if isinstance(v, np.generic) else v
            for name in ("qubo/rows", "qubo/cols") + tuple(f"varmap/{v}" for v in VARMAP_FIELDS):
                a = arrays[name]
                if a.size and not (np.isfinite(a).all() and np.array_equal(a, np.round(a))
                                   and np.abs(a).max() < 2**31):
                    raise QbnnError(f"{path}: /{name} must hold integers")
            return cls(
                linear=arrays["qubo/linear"],
                rows=arrays["qubo/rows"],
                cols=arrays["qubo/cols"],
                values=arrays["qubo/values"],
                offset=offset,
                varmap={v: arrays[f"varmap/{v}"] for v in VARMAP_FIELDS},
                attrs=attrs,
            )


def qubo_file_shape(path) -> tuple[int, int]:
    """(variables, nonzeros) of a qbnn QUBO HDF5 file, read from dataset shapes only."""
    with open_h5(path, "QUBO file") as f:
        try:
            return int(f["qubo/linear"].shape[0]), int(f["qubo/values"].shape[0])
        except (KeyError, IndexError, TypeError, AttributeError, ValueError):
            return 0, 0  # malformed (e.g. a group where a dataset belongs): QUBO.load reports the actual problem



def state_batch(x, n: int, dtype, what: str = "state") -> tuple[np.ndarray, bool]:
    """``(states (R, n) as dtype, whether x was a single state)``; QbnnError if x has not n variables."""
    X = np.asarray(x)
    single = X.ndim == 1
    X = np.atleast_2d(X).astype(dtype)
    if X.shape[1] != n:
        raise QbnnError(f"{what} has {X.shape[1]} variables, QUBO has {n}")
    return X, single


# ---------------------------------------------------------------- exporters
def bqm_serializable(q: QUBO) -> dict:
    """dimod ``BinaryQuadraticModel.to_serializable()`` dict (schema 3.0.0, BINARY), built without dimod."""
    return {
        "type": "BinaryQuadraticModel",
        "version": {"bqm_schema": "3.0.0"},
        "use_bytes": False,
        "index_type": "int64",
        "bias_type": "float64",
        "num_variables": q.num_variables,
        "num_interactions": q.num_interactions,
        "variable_labels": list(range(q.num_variables)),
        "variable_type": "BINARY",
        "offset": q.offset,
        "info": {},
        "linear_biases": q.linear.tolist(),
        "quadratic_biases": q.values.tolist(),
        "quadratic_head": q.rows.tolist(),
        "quadratic_tail": q.cols.tolist(),
    }


def export_bqm_json(q: QUBO, path: str | os.PathLike) -> None:
    """Write dimod-loadable BQM JSON atomically."""
    with atomic_output(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(bqm_serializable(q), f)


def export_coo(q: QUBO, path: str | os.PathLike) -> None:
    """Write ``# offset=...`` header then ``i j value`` lines (``i == j``: linear term; ``i < j``: quadratic)."""
    nz = np.flatnonzero(q.linear)
    rows = np.concatenate([nz, q.rows])
    cols = np.concatenate([nz, q.cols])
    vals = np.concatenate([q.linear[nz], q.values])
    with atomic_output(path) as tmp:
        with open(tmp, "w") as f:
            f.write(f"# qbnn QUBO (binary x): E = offset + sum value*x_i*x_j over lines; i==j lines are linear terms\n")
            f.write(f"# num_variables={q.num_variables}\n# offset={q.offset!r}\n")
            np.savetxt(f, np.column_stack([rows, cols, vals]), fmt=["%d", "%d", "%.17g"], delimiter=" ")
