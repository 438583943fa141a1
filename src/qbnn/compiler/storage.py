"""Compiled-QUBO files (``docs/qubo-format.md``): the QUBO with its data and weight penalties."""
from __future__ import annotations

import json
import os

import numpy as np

from qbnn.compiler.compiled import CompiledBNN
from qbnn.compiler.layout import FORMULATION, FORMULATION_VERSION, neuron_layout
from qbnn.errors import QbnnError
from qbnn.io import open_h5
from qbnn.margins import MarginSpec
from qbnn.qubo import QUBO
from qbnn.topology import Topology
from qbnn.validate import check_number, reading


def save_compiled(cb: CompiledBNN, path: str | os.PathLike) -> None:
    """Write the QUBO HDF5 with the data and weight penalties beside it (docs/qubo-format.md)."""
    cb.qubo.save(path, extra={
        "data/X": cb.X.astype(np.int8),
        "data/y": cb.y.astype(np.int64),
        "compiler/weight_penalties": cb.weight_penalties.astype(np.float64),
    })


def load_compiled(path: str | os.PathLike) -> CompiledBNN:
    """Rebuild a :class:`CompiledBNN` from a QUBO file written by :func:`save_compiled`."""
    with reading(path, "QUBO file"):
        return _load_compiled(path)


def _load_compiled(path) -> CompiledBNN:
    q = QUBO.load(path)
    if q.attrs.get("formulation") != FORMULATION:
        raise QbnnError(f"{path} was not written by the qbnn compiler (formulation {q.attrs.get('formulation')!r})")
    if int(q.attrs.get("formulation_version", 0)) > FORMULATION_VERSION:
        raise QbnnError(f"{path} has formulation version {q.attrs.get('formulation_version')}; this qbnn reads up to {FORMULATION_VERSION}")
    with open_h5(path, "QUBO file") as f:
        for name in ("data/X", "data/y", "compiler/weight_penalties"):
            if name not in f:
                raise QbnnError(f"{path} lacks dataset /{name}")
        X = f["data/X"][()]
        y = f["data/y"][()]
        h = f["compiler/weight_penalties"][()]
    spec = q.attrs["topology"]
    topo = Topology.from_spec(spec if isinstance(spec, dict) else json.loads(spec))
    X, y, h = np.asarray(X), np.asarray(y), np.asarray(h)
    if X.ndim != 2 or X.shape[1] != topo.n_inputs or (X.size and not np.isin(X, (-1, 1)).all()):
        raise QbnnError(f"{path}: /data/X must be ±1 of shape (samples, {topo.n_inputs})")
    if y.ndim != 1 or len(y) != len(X) or y.dtype.kind not in "biu":
        raise QbnnError(f"{path}: /data/y must be integer labels, one per row of /data/X")
    if h.shape != (topo.n_weights,) or h.dtype.kind not in "biuf" or not np.isfinite(h).all():
        raise QbnnError(f"{path}: /compiler/weight_penalties must be {topo.n_weights} finite numbers")
    layout, stride = neuron_layout(topo)
    if topo.n_weights + stride * X.shape[0] != q.num_variables:
        raise QbnnError(f"{path}: variable count does not match its topology and data")
    margin = check_number("attribute margin", q.attrs.get("margin"), minimum=0)
    penalty = check_number("attribute penalty", q.attrs.get("penalty"), minimum=0, strict=True)
    penalty_min = check_number("attribute penalty_min", q.attrs.get("penalty_min"), minimum=0)
    return CompiledBNN(topo, X.astype(np.int8), y.astype(np.int64), margin, h.astype(np.float64),
                       penalty, penalty_min, q, layout, stride, MarginSpec.from_attrs(q.attrs))


