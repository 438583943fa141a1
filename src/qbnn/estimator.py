"""scikit-learn estimator: :class:`QuboBNNClassifier` (exact-objective BNN training).

Input convention: a feature counts as binary ±1 when *every* value of ``X`` is −1 or +1;
otherwise ``X`` is binarised at 0 (``x >= 0 -> +1``, else ``−1``, matching ``sign(0) = +1``).
The same rule is applied per call in ``predict``.  Scale/centre real features yourself
(e.g. ``StandardScaler`` in a pipeline) so that 0 is a meaningful threshold.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from qbnn.dropout import make_solve_fn, run_dropout
from qbnn.errors import QbnnError
from qbnn.topology import Topology
from qbnn.training import DEFAULT_STRATEGY, train


def binarise_pm1(X: np.ndarray) -> np.ndarray:
    """``X`` as int8 ±1: unchanged if already ±1, else thresholded at 0 (``x >= 0 -> +1``)."""
    X = np.asarray(X)
    if X.size and np.isin(X, (-1, 1)).all():
        return X.astype(np.int8)
    return np.where(X >= 0, 1, -1).astype(np.int8)


class QuboBNNClassifier(ClassifierMixin, BaseEstimator):
    """Binary neural network of sign neurons trained on its exact objective.

    Parameters
    ----------
    topology : dict, str/path, Topology or None
        Topology spec (any documented form), a YAML path, or a :class:`Topology`.  Default
        ``{"layers": [d, 4, n_out]}`` with ``n_out = 1`` for two classes, else one output
        per class.  The width of layer 0 / ``inputs`` must equal ``n_features``.
    margin : float
        Margin for the compiled problem (used when the solver compiles, see
        :func:`qbnn.dropout.make_solve_fn`).
    dropout : dict or None
        ``{"R": rounds, "K": subnetworks, "p": drop prob, "beta": strength, "unit": "neuron"|"edge"}``;
        when given, :func:`qbnn.dropout.run_dropout` computes penalties ``h`` first and the full
        network is then trained on ``loss + Σ h·w``.
    solver : {"auto", "train", "bnn", "greedy"}
        ``"auto"`` / ``"train"``: the full network is trained by :func:`qbnn.training.train`
        (``strategy``, exact block decompositions, no full-dataset QUBO; ``docs/training.md``) when
        ``margin == 0``; with ``margin > 0`` (and for dropout subnetworks) ``"auto"`` uses
        :mod:`qbnn.bnn_solving` on the compiled problem. ``"greedy"`` is deterministic given
        ``random_state``.
    time_limit : float
        Seconds per solve (full network and each subnetwork).
    random_state : int
    strategy : str
        :mod:`qbnn.training` strategy for ``solver="auto"``/``"train"`` (default: the benchmark's best).
    warm_start : {"none", "ste", "greedy"}
        Initial weights for the training strategy.
    validation : float
        Share of the samples held out to pick the training strategy's best-validating incumbent
        (``qbnn train --validation``; 0, the default, is off).
    kappa : float, "rule", "cv" or None
        Hinge margin of the training strategy's search (``qbnn train --kappa``; None: the CLI's default).
    """

    def __init__(self, topology: Any = None, margin: float = 0.0, dropout: dict | None = None,
                 solver: str = "auto", time_limit: float = 2.0, random_state: int = 0,
                 strategy: str | None = None, warm_start: str = "none", validation: float = 0.0,
                 kappa: float | str | None = None):
        self.topology = topology
        self.margin = margin
        self.dropout = dropout
        self.solver = solver
        self.time_limit = time_limit
        self.random_state = random_state
        self.strategy = strategy
        self.warm_start = warm_start
        self.validation = validation
        self.kappa = kappa

    # ------------------------------------------------------------------ helpers
    def _build_topology(self, d: int, n_out: int) -> Topology:
        t = self.topology
        try:
            if t is None:
                topo = Topology.layered([d, 4, n_out])
            elif isinstance(t, Topology):
                topo = t
                topo.check_inputs(d)
            elif isinstance(t, dict):
                topo = Topology.from_spec(t, n_inputs=d)
            else:
                topo = Topology.load(t, n_inputs=d)
        except QbnnError as exc:
            raise ValueError(str(exc)) from None
        if topo.n_outputs != n_out:
            raise ValueError(f"topology has {topo.n_outputs} outputs; {len(self.classes_)} classes need {n_out}")
        return topo

    def _seed(self) -> int:
        rs = self.random_state
        if rs is None:
            return int(np.random.default_rng().integers(2**31))
        if isinstance(rs, np.random.RandomState):
            return int(rs.randint(2**31))
        return int(rs)

    # ---------------------------------------------------------------------- API
    def fit(self, X, y):
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise ValueError(f"QuboBNNClassifier needs at least 2 classes in y, got {n_classes} class")
        Xb = binarise_pm1(X)
        if n_classes == 2:
            yt = np.where(y_idx == 1, 1, -1).astype(np.int8)
            n_out = 1
        else:
            yt = y_idx.astype(np.int64)
            n_out = n_classes
        topo = self._build_topology(Xb.shape[1], n_out)
        seed = self._seed()
        if self.solver not in ("auto", "train", "bnn", "greedy"):
            raise ValueError(f"unknown solver {self.solver!r} (auto, train, bnn, greedy)")
        if self.solver == "train" and self.margin:
            raise ValueError("solver 'train' minimises the loss without a margin term; use margin=0")
        solve_fn = make_solve_fn("auto" if self.solver == "train" else self.solver, time_limit=self.time_limit)
        h = None
        self.dropout_rounds_ = []
        if self.dropout:
            cfg = {"R": 1, "K": 4, "p": 0.5, "beta": 1.0, "unit": "neuron", **dict(self.dropout)}
            unknown = set(cfg) - {"R", "K", "p", "beta", "unit"}
            if unknown:
                raise ValueError(f"unknown dropout key(s): {sorted(unknown)}")
            rounds = run_dropout(topo, Xb, yt, R=cfg["R"], K=cfg["K"], p=cfg["p"], beta=cfg["beta"],
                                 unit=cfg["unit"], seed=seed, solve_fn=solve_fn, margin=self.margin)
            self.dropout_rounds_ = [r.summary() for r in rounds]
            h = rounds[-1].penalties
        self.penalties_ = h
        if self.solver in ("auto", "train") and not self.margin:
            try:
                res = train(topo, Xb, yt, strategy=self.strategy or DEFAULT_STRATEGY, warm_start=self.warm_start,
                            time_limit=self.time_limit, seed=seed, weight_penalties=h, validation=self.validation,
                            **({} if self.kappa is None else {"kappa": self.kappa}))
            except QbnnError as exc:
                raise ValueError(str(exc)) from None
            w = res.weights
        else:
            w = solve_fn(topo, Xb, yt, penalties=h, margin=self.margin, seed=seed)
        self.topology_ = topo
        self.weights_ = np.asarray(w, dtype=np.int8)
        self.train_errors_ = int(topo.training_loss(self.weights_, Xb, yt))
        return self

    def decision_function(self, X):
        """Output pre-activations ``z``: ``(S,)`` for two classes, ``(S, n_classes)`` otherwise."""
        check_is_fitted(self, "weights_")
        X = validate_data(self, X, reset=False)
        Z, _ = self.topology_.forward(self.weights_, binarise_pm1(X))
        out = list(self.topology_.outputs)
        return Z[:, out[0]].astype(np.float64) if len(out) == 1 else Z[:, out].astype(np.float64)

    def predict(self, X):
        check_is_fitted(self, "weights_")
        X = validate_data(self, X, reset=False)
        pred = self.topology_.predict(self.weights_, binarise_pm1(X))
        if len(self.classes_) == 2:
            return self.classes_[(pred == 1).astype(np.int64)]
        return self.classes_[pred]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.solver != "greedy"  # time-limited strategies
        return tags
