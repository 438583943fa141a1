"""Mixed-integer training of step-activation networks (Kurtz & Bah, arXiv 2110.11382).

* :func:`solve_mip` -- exact MILP (HiGHS), optionally grouped / robust / partially fixed;
* :func:`local_search` -- alternate fixing output layer and hidden activation pattern;
* :func:`split_train` -- iterative data splitting with KMeans;
* :class:`MIPNetwork` -- estimator with ``fit`` / ``predict`` / ``score`` / ``save`` / ``load``.
"""
from __future__ import annotations

import json

import numpy as np

from qbnn.errors import QbnnError
from qbnn.identity import Identity
from qbnn.mip.local_search import local_search
from qbnn.mip.layers import forward, loss, predict, random_weights
from qbnn.mip.model import MIPResult, solve_mip
from qbnn.mip.splitting import split_train
from qbnn.topology import Network

METHODS = ("exact", "local", "split")

__all__ = ["MIPNetwork", "MIPResult", "solve_mip", "local_search", "split_train", "forward",
           "loss", "predict", "random_weights", "METHODS"]


class MIPNetwork:
    """Layered step-activation network trained by mixed-integer programming.

    ``layers = [d, h1, ..., C]``; C = 1 means ±1 labels, else class indices 0..C-1.
    After ``fit``: ``network_`` (a :class:`qbnn.topology.Network`: step topology, real or integer
    weights, the one forward pass), ``weights_`` / ``biases_`` (its per-layer float arrays, for the
    MILP code) and ``info_`` (dict with objective, bound, gap, status, seconds, method, ...).
    """

    def __init__(self, layers, method="exact", *, integer=False, bias=True, bias_bound=None,
                 eps=1e-3, time_limit=60.0, mip_gap=1e-4, seed=0, rho=0.0, iterations=6,
                 max_splits=20, split_init="class", solve_limit=None, threads=1, weight_bound=1.0,
                 reg_weight=0.0, kmeans_init=3, batch_size=None, write_model=None, read_solution=None):
        if method not in METHODS:
            raise QbnnError(f"unknown method {method!r} (choose from {', '.join(METHODS)})")
        self.layers = [int(v) for v in layers]
        self.method = method
        self.integer, self.bias, self.bias_bound, self.eps = integer, bias, bias_bound, eps
        self.time_limit, self.mip_gap, self.seed, self.rho = time_limit, mip_gap, seed, rho
        self.iterations, self.max_splits = iterations, max_splits
        self.split_init, self.solve_limit, self.threads = split_init, solve_limit, threads
        self.weight_bound, self.reg_weight = weight_bound, reg_weight
        self.kmeans_init, self.batch_size = kmeans_init, batch_size
        self.write_model = write_model  # exact: also write the MILP (.mps / .lp) for an outside solver
        self.read_solution = read_solution  # exact: take the weights from an outside solver's solution file
        self.identity = Identity()  # the run's identity, stored in the file (qbnn.identity)

    def fit(self, X, y, X_val=None, y_val=None):
        """Train on (X, y); split keeps the network with the best accuracy on (X_val, y_val)
        (default: the training set)."""
        X = np.asarray(X, float)
        if X.shape[1] != self.layers[0]:
            raise QbnnError(f"network input width {self.layers[0]} != data width {X.shape[1]}")
        kw = dict(integer=self.integer, bias=self.bias, bias_bound=self.bias_bound, eps=self.eps,
                  rho=self.rho, weight_bound=self.weight_bound, reg_weight=self.reg_weight)
        if self.method == "exact":
            r = solve_mip(X, y, self.layers, time_limit=self.time_limit, mip_gap=self.mip_gap,
                          seed=self.seed, threads=self.threads, write_model=self.write_model,
                          read_solution=self.read_solution, **kw)
            self._set_network(r.weights, r.biases)
            self.info_ = {"objective": r.objective, "bound": r.bound, "mip_gap": r.gap,
                          "status": r.status, "seconds": r.seconds, "n_vars": r.n_vars,
                          "n_cons": r.n_cons, "n_binaries": r.n_binaries, "train_loss": r.train_loss,
                          "build_seconds": r.build_seconds, "bias_bounds": r.bias_bounds}
        elif self.method == "local":
            r = local_search(X, y, self.layers, iterations=self.iterations, seed=self.seed,
                             time_limit=self.time_limit, **kw)
            self._set_network(r["weights"], r["biases"])
            self.info_ = {"objective": r["objective"], "bound": None, "mip_gap": None,
                          "status": "heuristic", "seconds": r["seconds"], "losses": r["losses"]}
        else:
            r = split_train(X, y, self.layers, max_splits=self.max_splits, seed=self.seed,
                            time_limit=self.time_limit, X_val=X_val, y_val=y_val,
                            mip_gap=self.mip_gap, init=self.split_init, solve_limit=self.solve_limit,
                            threads=self.threads, kmeans_init=self.kmeans_init, batch_size=self.batch_size,
                            **kw)
            self._set_network(r["weights"], r["biases"])
            self.info_ = {"objective": float(loss(self.weights_, self.biases_, X, y)), "bound": None,
                          "mip_gap": r["history"][-1]["gap"] if r["history"] else None,
                          "status": "heuristic", "seconds": r["seconds"], "history": r["history"],
                          "n_binaries": max(e["n_binaries"] for e in r["history"]),
                          "n_solves": len(r["history"]), "best_val": r["best_val"],
                          "best_split": int(max(r["history"], key=lambda e: e["val_accuracy"])["split"])}
        self.info_["method"] = self.method
        return self

    def _set_network(self, weights, biases):
        self.network_ = Network.from_layers(weights, biases if self.bias else None,
                                            "integer" if self.integer else "real")

    @property
    def weights_(self):
        """Per-layer weight matrices ``(h_k, h_{k-1})`` of ``network_`` (float64 copies)."""
        return self.network_.layer_arrays()[0]

    @property
    def biases_(self):
        """Per-layer biases ``(h_k,)`` of ``network_`` (zeros without bias)."""
        return self.network_.layer_arrays()[1]

    def predict(self, X):
        return self.network_.predict(np.asarray(X, float)).astype(np.int64)

    def score(self, X, y):
        return float(np.mean(self.predict(X) == np.asarray(y)))

    def save(self, path):
        """Write ``network_`` as a ``qbnn-network`` file (float64 weights, step topology) with the
        estimator's settings and ``info_`` as attributes, atomically."""
        meta = {"layers": self.layers, "method": self.method, "rho": float(self.rho), "integer": bool(self.integer),
                "weight_bound": float(self.weight_bound),
                # per-split history / per-iteration losses included
                "info": json.dumps(getattr(self, "info_", {}), default=float)}
        n = self.network_
        Network(n.topology, n.weights, meta, self.identity, n.domain).save(path)

    @classmethod
    def load(cls, path):
        """Read a MIP network: a ``qbnn-network`` file with a step topology, or a former
        ``qbnn-mip-network`` file (converted by :meth:`qbnn.topology.Network.load`)."""
        network = Network.load(path)
        if network.topology.activation != "step":
            raise QbnnError(f"network file {path}: not a MIP network (sign activations; qbnn evaluate reads it)")
        meta = network.metadata
        try:
            layers = json.loads(meta["layers"])
            net = cls(layers, str(meta["method"]), rho=float(meta["rho"]), integer=bool(meta["integer"]),
                      weight_bound=float(meta.get("weight_bound", 1.0)), bias=bool(network.topology.bias.any()))
            net.info_ = json.loads(meta.get("info", "{}"))
        except (KeyError, TypeError, ValueError) as exc:
            raise QbnnError(f"network file {path}: malformed MIP network ({exc.__class__.__name__}: {exc})") from None
        shapes = [(layers[k + 1], layers[k]) for k in range(len(layers) - 1)]
        try:
            arrays = network.layer_arrays()
        except QbnnError as exc:
            raise QbnnError(f"network file {path}: {exc}") from None
        if [W.shape for W in arrays[0]] != shapes:
            raise QbnnError(f"network file {path}: weight shapes do not match layers {layers}")
        net.network_, net.identity = network, network.identity
        return net
