"""Where a dataset meets a network: the one label coding of every network qbnn trains (QUBO, MIP,
baselines, evaluation), and :func:`load_task`, the boundary that reads a dataset for a topology.

A network with one output predicts ±1; one with ``C > 1`` outputs predicts a class index
``0..C-1``. Two-class labels arrive either way (qbnn datasets store ±1, other files often 0/1) and
are recoded to the network's convention here, once. Datasets are read by
:meth:`qbnn.data.Dataset.load` only.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from qbnn.data import Dataset
from qbnn.errors import QbnnError
from qbnn.topology import Topology


def code_labels(y, n_outputs: int) -> np.ndarray:
    """Labels in the convention of a network with ``n_outputs`` outputs (1-D).

    Two-class labels are recoded: 0/1 -> ±1 for one output, ±1 -> 0/1 (−1 -> 0) for several.
    Labels already in the convention (or that fit neither, which :func:`check_labels` refuses)
    come back unchanged."""
    y = np.asarray(y).reshape(-1)
    if not y.size:
        return y
    values = set(np.unique(y).tolist())
    if n_outputs == 1 and values <= {0, 1} and 0 in values:
        return np.where(y == 1, 1, -1).astype(np.int64)
    if n_outputs > 1 and values <= {-1, 1} and -1 in values:
        return (y > 0).astype(np.int64)
    return y


def check_labels(n_outputs: int, y, what: str = "training") -> np.ndarray:
    """Coded labels (:func:`code_labels`), or QbnnError if they do not fit ``n_outputs`` outputs."""
    y = code_labels(y, n_outputs)
    if n_outputs == 1:
        if not np.isin(y, (-1, 1)).all():
            raise QbnnError(f"{what} labels must be ±1 for a network with one output (got values {np.unique(y)[:5].tolist()})")
    elif y.size and (y.min() < 0 or y.max() >= n_outputs):
        raise QbnnError(f"{what} labels must be class indices 0..{n_outputs - 1} for {n_outputs} outputs")
    return y


def outputs_for_labels(*ys) -> int:
    """Outputs a network needs for these labels: one for two classes (±1 or 0/1), else the number of
    class indices ``0..C-1``."""
    y = np.concatenate([np.asarray(v).reshape(-1) for v in ys])
    pm1 = set(np.unique(y).tolist()) <= {-1, 1}
    if not pm1 and y.size and y.min() < 0:
        raise QbnnError("labels must be ±1 (two classes) or class indices 0..C-1")
    n = 1 if pm1 and y.size and y.min() < 0 else int(y.max()) + 1 if y.size else 1
    return 1 if n == 2 else n


class Task(NamedTuple):
    """A dataset read for a topology: labels coded and checked for its outputs; ``dataset`` is the
    record itself (attributes, identity, provenance)."""

    topology: Topology
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    dataset: Dataset


def load_task(data_path, network_path, real: bool = False) -> Task:
    """``Task(topology, X_train, y_train, X_test, y_test, dataset)``: a dataset file and a topology YAML
    read together, the labels coded and checked against the topology's outputs (QbnnError naming the
    dataset otherwise); ``real``: accept real-valued (``encoding: real``) features."""
    data = Dataset.load(data_path, real=real)
    Xtr, ytr, Xte, yte = data.X_train, data.y_train, data.X_test, data.y_test
    topo = Topology.load(network_path, n_inputs=Xtr.shape[1])
    try:
        ytr, yte = check_labels(topo.n_outputs, ytr, "training"), check_labels(topo.n_outputs, yte, "test")
    except QbnnError as exc:
        raise QbnnError(f"{data_path}: {exc}") from None
    return Task(topo, Xtr, ytr, Xte, yte, data)
