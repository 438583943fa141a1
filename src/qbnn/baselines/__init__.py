"""Gradient, greedy and full-precision baselines on the same splits and topology.

* :func:`qbnn.baselines.ste.train_ste` -- STE-trained BNN (any topology);
* :func:`qbnn.baselines.greedy.greedy_flip` -- greedy single-bit flips on the exact loss;
* ``ste_greedy`` -- the STE solution polished by greedy flips (never worse on training);
* :func:`qbnn.baselines.reference.train_mlp` / :func:`~qbnn.baselines.reference.train_logreg`;
* ``dnn`` -- :func:`~qbnn.baselines.reference.train_dnn`, paper B's comparison network (ReLU,
  30 epochs, batch 64, Adam), with test accuracy under random-sign attacks.

:func:`run_baseline` runs one by name and returns the common result dict: ``method``,
``train_accuracy``, ``test_accuracy``, ``train_errors``, ``seconds`` and, for BNN
methods, ``weights`` (int8 ±1, canonical order) plus the exact evaluation metrics.
"""
from __future__ import annotations

import time

import numpy as np

from qbnn.baselines.greedy import greedy_flip
from qbnn.baselines.reference import train_dnn, train_logreg, train_mlp
from qbnn.errors import QbnnError
from qbnn.evaluate import evaluate_network
from qbnn.task import code_labels
from qbnn.topology import Network, Topology

METHODS = ("ste", "greedy", "ste_greedy", "mlp", "logreg", "dnn")
BNN_METHODS = ("ste", "greedy", "ste_greedy")


def _given(**options) -> dict:
    """The options the caller set (``None`` means: keep the method's own default)."""
    return {k: v for k, v in options.items() if v is not None}


def run_baseline(
    method: str,
    topology: Topology,
    Xtr: np.ndarray,
    ytr: np.ndarray,
    Xte: np.ndarray | None = None,
    yte: np.ndarray | None = None,
    *,
    seed: int = 0,
    epochs: int | None = None,
    restarts: int | None = None,
    lr: float | None = None,
    **kwargs,
) -> dict:
    """Run one baseline; BNN methods are scored by :func:`qbnn.evaluate.evaluate_network`."""
    t0 = time.perf_counter()
    ytr = code_labels(ytr, topology.n_outputs)
    yte = None if yte is None else code_labels(yte, topology.n_outputs)
    if method in ("ste", "ste_greedy"):
        from qbnn.baselines.ste import train_ste

        kw = {"seed": seed, **kwargs, **_given(epochs=epochs, seeds=restarts, lr=lr)}
        res = train_ste(topology, Xtr, ytr, **kw)
        if method == "ste_greedy":  # polish the STE solution by exact bit-flip descent

            pol = greedy_flip(topology, Xtr, ytr, restarts=1, seed=seed, init=res["weights"])
            res.update(ste_train_errors=res["train_errors"], weights=pol["weights"], train_errors=pol["train_errors"])
    elif method == "greedy":
        kw = {"seed": seed, **kwargs, **_given(restarts=restarts)}
        res = greedy_flip(topology, Xtr, ytr, **kw)
        res.pop("history", None)
    elif method == "mlp":
        kw = {"seed": seed, **kwargs, **_given(epochs=epochs, lr=lr)}
        res = train_mlp(topology, Xtr, ytr, Xte, yte, **kw)
    elif method == "dnn":
        from qbnn.mip.robust import EPSILONS

        kw = {"seed": seed, "attack": EPSILONS, **kwargs, **_given(epochs=epochs, lr=lr)}
        res = train_dnn(topology, Xtr, ytr, Xte, yte, **kw)
    elif method == "logreg":
        res = train_logreg(Xtr, ytr, Xte, yte, seed=seed, **kwargs)
    else:
        raise QbnnError(f"unknown baseline method {method!r} (choose from {', '.join(METHODS)})")
    if method in BNN_METHODS:
        metrics = evaluate_network(Network(topology, res["weights"]), Xtr, ytr, Xte, yte)
        assert metrics["train_errors"] == res["train_errors"]
        res.update(metrics)
    res["method"] = method
    res["seed"] = int(seed)
    res["seconds"] = time.perf_counter() - t0
    res.setdefault("test_accuracy", None)
    return res
