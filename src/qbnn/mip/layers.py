"""Per-layer arrays ``(Ws, bs)`` of a layered step network (``W_k`` ``(h_k, h_{k-1})``, ``b_k``), the form
the MILP code works in, as views of the one network type: :func:`layered_network` makes the
:class:`qbnn.topology.Network`, and ``forward`` / ``predict`` / ``loss`` are thin calls of its shared
forward pass, so MIP and QUBO networks are evaluated alike."""
from __future__ import annotations

import numpy as np

from qbnn.errors import QbnnError
from qbnn.topology import Network


def layered_network(weights, biases) -> Network:
    """Per-layer ``W_k`` ``(h_k, h_{k-1})`` and ``b_k`` as the one network type (step activations)."""
    return Network.from_layers(weights, biases, "real")


def forward(weights, biases, X):
    """Return (list of hidden 0/1 activations per layer, output pre-activations), float64."""
    net = layered_network(weights, biases)
    t = net.topology
    Z, A = t.forward(net.weights, np.asarray(X, dtype=float))
    return [A[:, k0:k1] for k0, k1 in t.blocks[:-1]], Z[:, t.blocks[-1][0]:]


def predict(weights, biases, X):
    """±1 (one output, sign(0) = +1) or class index (argmax over the outputs), int64."""
    return layered_network(weights, biases).predict(np.asarray(X, dtype=float)).astype(np.int64)


def targets(y, n_out):
    y = np.asarray(y).astype(int)
    if n_out == 1:
        if not np.all(np.isin(y, (-1, 1))):
            raise QbnnError("binary labels must be ±1")
        return y.reshape(-1, 1).astype(float)
    if y.min() < 0 or y.max() >= n_out:
        raise QbnnError(f"class labels must lie in 0..{n_out - 1}")
    T = -np.ones((len(y), n_out))
    T[np.arange(len(y)), y] = 1
    return T


def sample_errors(weights, biases, X, y):
    """(S,) violated output targets per sample (the shared forward's :meth:`Topology.sample_errors`)."""
    net = layered_network(weights, biases)
    targets(y, net.topology.n_outputs)  # validates the labels
    return net.topology.sample_errors(net.weights, np.asarray(X, dtype=float), np.asarray(y).astype(int))


def loss(weights, biases, X, y):
    """Number of violated output targets (misclassifications for binary, Hamming otherwise)."""
    return int(sample_errors(weights, biases, X, y).sum())


def random_weights(layers, seed=0, bias=True, integer=False, weight_bound=1):
    rng = np.random.default_rng(seed)
    Ws, bs = [], []
    P = weight_bound
    for k in range(1, len(layers)):
        if integer:
            W = rng.integers(-int(P), int(P) + 1, size=(layers[k], layers[k - 1])).astype(float)
        else:
            W = rng.uniform(-P, P, size=(layers[k], layers[k - 1]))
        Ws.append(W)
        bs.append(rng.uniform(-0.5, 0.5, size=layers[k]) if bias else np.zeros(layers[k]))
    return Ws, bs
