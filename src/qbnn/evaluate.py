"""Evaluate a trained BNN by an independent forward pass: accuracies, exact losses, margins."""
from __future__ import annotations

from typing import Any

import numpy as np

from qbnn.errors import QbnnError
from qbnn.task import check_labels
from qbnn.topology import Network

#: the one binning of normalised margins |z|/fan-in (metrics histogram and the margin-histogram figure)
MARGIN_EDGES = np.linspace(0.0, 1.0, 21)


def forward_parts(network: Network, X: np.ndarray):
    """Forward pass with what margin measures need: ``(Z, A, fan, hidden, out)``. Z/A ``(S, N)``
    pre-activations/activations, fan ``(N,)`` float64 fan-ins, hidden/out neuron index lists."""
    t = network.topology
    Z, A = t.forward(network.weights, X)
    fan = np.array([t.fan_in(k) for k in range(t.n_neurons)], dtype=np.float64)
    out = list(t.outputs)
    hidden = [k for k in range(t.n_neurons) if k not in set(out)]
    return Z, A, fan, hidden, out


def margin_stats(network: Network, X: np.ndarray) -> dict[str, Any]:
    """Normalised margins ``a_j z_j / fan_in(j)`` over all (hidden + output) neurons and samples."""
    Z, A, fan, hidden, out = forward_parts(network, X)
    M = (A * Z) / fan[None, :]
    counts, _ = np.histogram(M.ravel(), bins=MARGIN_EDGES)
    res = {
        "margin_mean": float(M.mean()) if M.size else None,
        "margin_min": float(M.min()) if M.size else None,
        "margin_zero_fraction": float(np.mean(Z == 0)) if Z.size else None,
        "margin_hist_edges": MARGIN_EDGES.tolist(),
        "margin_hist_counts": counts.astype(int).tolist(),
        "output_margin_mean": float(M[:, out].mean()),
        "output_margin_min": float(M[:, out].min()),
    }
    if hidden:
        res["hidden_margin_mean"] = float(M[:, hidden].mean())
        res["hidden_margin_min"] = float(M[:, hidden].min())
    return res


def constant_predictor(topology, weights, *Xs: np.ndarray) -> bool:
    """Whether the network predicts one and the same class on every sample of ``Xs`` (the failure
    mode of generic Ising solvers on BNN QUBOs: a network that ignores its input)."""
    preds = [np.asarray(topology.predict(weights, X)).reshape(-1) for X in Xs if X is not None and len(X)]
    if not preds:
        return False
    return bool(np.unique(np.concatenate(preds)).size == 1)


def evaluate_network(
    network: Network,
    Xtr: np.ndarray,
    ytr: np.ndarray,
    Xte: np.ndarray | None = None,
    yte: np.ndarray | None = None,
) -> dict[str, Any]:
    """Metrics of ``network`` recomputed by a forward pass.

    Returns ``train_accuracy``, ``train_errors`` (exact training loss: #errors, or Hamming
    distance to one-hot targets with several outputs), ``test_accuracy``/``test_errors``
    (``None`` without test data), margin statistics on the training set (see
    :func:`margin_stats`), and the network size.
    """
    t = network.topology
    t.check_inputs(np.asarray(Xtr).shape[1])
    ytr = check_labels(network.topology.n_outputs, ytr, "training")
    res: dict[str, Any] = {
        "n_train": int(len(ytr)),
        "n_weights": int(t.n_weights),
        "n_neurons": int(t.n_neurons),
        "train_accuracy": network.accuracy(Xtr, ytr),
        "train_errors": int(t.training_loss(network.weights, Xtr, ytr)),
        "test_accuracy": None,
        "test_errors": None,
    }
    if Xte is not None and yte is not None and len(yte):
        t.check_inputs(np.asarray(Xte).shape[1])
        yte = check_labels(network.topology.n_outputs, yte, "test")
        res.update(
            n_test=int(len(yte)),
            test_accuracy=network.accuracy(Xte, yte),
            test_errors=int(t.training_loss(network.weights, Xte, yte)),
        )
    res["constant_predictor"] = constant_predictor(t, network.weights, Xtr, Xte)
    res.update(margin_stats(network, Xtr))
    return res


def evaluate_mip_network(network: Network, Xtr, ytr, Xte=None, yte=None, attack=None, seed=0) -> dict[str, Any]:
    """Metrics of a MIP network (step topology, real weights; ``qbnn train-mip``) by the shared forward
    pass: accuracies, errors (Hamming distance to one-hot targets with several outputs), its ``rho``
    and, for the attack sizes ``attack``, accuracy under random-sign attacks and certified accuracy.
    ``n_weights`` counts the weights without the biases, as train-mip's layers do."""
    from qbnn.mip.robust import robust_metrics

    t, w = network.topology, network.weights
    Xtr = np.asarray(Xtr, float)
    res: dict[str, Any] = {"n_train": int(len(ytr)), "n_weights": int(t.n_weights - t.bias.sum()),
                           "train_accuracy": t.accuracy(w, Xtr, ytr),
                           "train_errors": int(t.training_loss(w, Xtr, ytr)),
                           "test_accuracy": None, "test_errors": None,
                           "rho": float(network.metadata.get("rho", 0.0))}
    if Xte is not None and yte is not None and len(yte):
        Xte = np.asarray(Xte, float)
        res.update(n_test=int(len(yte)), test_accuracy=t.accuracy(w, Xte, yte),
                   test_errors=int(t.training_loss(w, Xte, yte)))
        if attack:
            res.update(robust_metrics(*network.layer_arrays(), Xte, yte, attack, seed=seed))
    return res
