"""Full-precision references: a real-valued network of the same shape, and logistic regression.

The MLP uses the topology's own DAG (same neurons, same edges, same biases) with real
weights and tanh/relu hidden units; outputs are trained with the logistic loss (one
output, ±1 labels) or softmax cross-entropy (several outputs, class indices).
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from qbnn.errors import QbnnError
from qbnn.topology import Topology

if TYPE_CHECKING:  # torch is imported by train_mlp only: `qbnn baseline --method logreg` does not load it
    import torch


def _predict(topology: Topology, Z: torch.Tensor, out: torch.Tensor) -> np.ndarray:
    zo = Z[:, out].detach().numpy()
    if topology.n_outputs == 1:
        return np.where(zo[:, 0] >= 0, 1, -1).astype(np.int8)
    return np.argmax(zo, axis=1).astype(np.int64)


def train_mlp(
    topology: Topology,
    Xtr: np.ndarray,
    ytr: np.ndarray,
    Xte: np.ndarray | None = None,
    yte: np.ndarray | None = None,
    *,
    activation: str = "tanh",
    epochs: int = 500,
    lr: float = 0.01,
    seed: int = 0,
    weight_decay: float = 0.0,
    threads: int | None = 1,
    batch_size: int | None = None,
    attack: tuple | None = None,
) -> dict:
    """Adam on the real-valued network of the same topology: full batch, or seeded shuffled
    mini-batches of ``batch_size`` per epoch.  ``attack``: test accuracy under random-sign
    perturbations of each size (``attack_accuracy_e{e}``, same protocol as the MIP networks)."""
    from qbnn.baselines.torchdag import torch_threads  # torch: `qbnn baseline --method logreg` does not load it

    with torch_threads(threads):
        return _train_mlp(topology, Xtr, ytr, Xte, yte, activation, epochs, lr, seed, weight_decay, batch_size,
                          attack)


def train_dnn(topology: Topology, Xtr, ytr, Xte=None, yte=None, *, seed: int = 0, epochs: int = 30,
              lr: float = 1e-3, attack: tuple | None = None, **kwargs) -> dict:
    """Paper B's comparison DNN: ReLU hidden units, same widths, Adam (lr 1e-3, Keras' default),
    30 epochs of mini-batches of 64."""
    res = train_mlp(topology, Xtr, ytr, Xte, yte, activation="relu", epochs=epochs, lr=lr, seed=seed,
                    batch_size=64, attack=attack, **kwargs)
    res["method"] = "dnn"
    return res


def _train_mlp(topology, Xtr, ytr, Xte, yte, activation, epochs, lr, seed, weight_decay, batch_size=None,
               attack=None) -> dict:
    import torch

    from qbnn.baselines.torchdag import TorchDAG, to_tensor

    acts = {"tanh": torch.tanh, "relu": torch.relu}
    if activation not in acts:
        raise QbnnError(f"unknown MLP activation {activation!r} (tanh or relu)")
    t0 = time.perf_counter()
    torch.manual_seed(int(seed))
    gen = torch.Generator().manual_seed(int(seed))
    dag = TorchDAG(topology)
    Xt = to_tensor(Xtr)
    out = dag.outputs
    is_out = torch.zeros(topology.n_neurons, dtype=torch.bool)
    is_out[out] = True
    # Glorot-like init: scale each neuron's incoming weights by 1/sqrt(fan_in)
    scale = np.concatenate([np.full(topology.fan_in(k), 1.0 / np.sqrt(topology.fan_in(k))) for k in range(topology.n_neurons)])
    w = (torch.randn(topology.n_weights, dtype=torch.float64, generator=gen) * torch.as_tensor(scale)).requires_grad_(True)
    f = acts[activation]

    def act(z, fan):
        return f(z)  # output neurons' activations are never read by anything but outputs

    opt = torch.optim.Adam([w], lr=lr, weight_decay=weight_decay)
    y = np.asarray(ytr)
    if topology.n_outputs == 1:
        target = torch.as_tensor((y.reshape(-1) > 0).astype(np.float64))
        lossf = torch.nn.BCEWithLogitsLoss()
    else:
        target = torch.as_tensor(y.astype(np.int64))
        lossf = torch.nn.CrossEntropyLoss()
    n = len(Xt)
    for _ in range(int(epochs)):
        order = torch.randperm(n, generator=gen) if batch_size else torch.arange(n)
        for start in range(0, n, batch_size or n):
            rows = order[start:start + (batch_size or n)]
            Z, _ = dag.forward(w, Xt[rows], act)
            zo = Z[:, out]
            L = lossf(zo[:, 0], target[rows]) if topology.n_outputs == 1 else lossf(zo, target[rows])
            opt.zero_grad()
            L.backward()
            opt.step()
    with torch.no_grad():
        ptr = _predict(topology, dag.forward(w, Xt, act)[0], out)
        res = {
            "method": "mlp",
            "activation": activation,
            "train_accuracy": float(np.mean(ptr == y)),
            "train_errors": int(np.sum(ptr != y)),
            "final_loss": float(L.item()) if epochs else None,  # last (mini-)batch
            "n_parameters": int(topology.n_weights),
        }
        if Xte is not None and yte is not None:
            pte = _predict(topology, dag.forward(w, to_tensor(Xte), act)[0], out)
            res["test_accuracy"] = float(np.mean(pte == np.asarray(yte)))
            res["test_errors"] = int(np.sum(pte != np.asarray(yte)))
            res["constant_predictor"] = bool(len(np.unique(pte)) == 1)
            if attack:  # the MIP networks' protocol: 5 seeded random-sign draws per size
                rng = np.random.default_rng(seed)
                Xe = np.asarray(Xte, dtype=np.float64)
                for e in attack:
                    accs = [np.mean(_predict(topology, dag.forward(w, to_tensor(Xe + e * rng.choice([-1.0, 1.0], size=Xe.shape)), act)[0], out)
                                    == np.asarray(yte)) for _ in range(5)]
                    res[f"attack_accuracy_e{float(e):g}"] = float(np.mean(accs))
    res["seconds"] = time.perf_counter() - t0
    return res


def train_logreg(
    Xtr: np.ndarray,
    ytr: np.ndarray,
    Xte: np.ndarray | None = None,
    yte: np.ndarray | None = None,
    *,
    C: float = 1.0,
    seed: int = 0,
) -> dict:
    """sklearn LogisticRegression on the ±1 inputs."""
    from sklearn.linear_model import LogisticRegression

    t0 = time.perf_counter()
    y = np.asarray(ytr).reshape(-1)
    if len(np.unique(y)) < 2:
        raise QbnnError("logistic regression needs at least two classes in the training labels")
    clf = LogisticRegression(C=C, max_iter=2000, random_state=int(seed))
    clf.fit(np.asarray(Xtr, dtype=np.float64), y)
    ptr = clf.predict(np.asarray(Xtr, dtype=np.float64))
    res = {
        "method": "logreg",
        "C": float(C),
        "train_accuracy": float(np.mean(ptr == y)),
        "train_errors": int(np.sum(ptr != y)),
    }
    if Xte is not None and yte is not None:
        pte = clf.predict(np.asarray(Xte, dtype=np.float64))
        res["test_accuracy"] = float(np.mean(pte == np.asarray(yte).reshape(-1)))
        res["test_errors"] = int(np.sum(pte != np.asarray(yte).reshape(-1)))
    res["seconds"] = time.perf_counter() - t0
    return res
