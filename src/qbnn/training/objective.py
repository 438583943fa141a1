"""The training objective every strategy minimises, and the incremental network state they share.

Loss (``docs/training.md``, the compiled QUBO's loss with λ = 0, ``docs/formulation.md``):

* one output: the number of training samples with ``a_out ≠ y``;
* ``C > 1`` outputs: the Hamming distance between the output activations and the one-hot ±1 targets,
  summed over samples (each output neuron is a one-vs-rest sign unit);

plus optional linear weight penalties ``Σ_e h_e w_e`` (the dropout / consensus penalty mechanism).
Prediction: the output activation (one output) or ``argmax`` of the output pre-activations.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qbnn.baselines.greedy import _descendants
from qbnn.topology import Topology

LOSS = {1: "errors: #samples with a_out != y", 2: "hamming: sum over samples and outputs of [a_o != onehot_pm1(y)_o]"}
PREDICTION = {1: "sign of the output pre-activation (sign(0)=+1)", 2: "argmax of the output pre-activations"}


def loss_name(topology: Topology) -> str:
    return LOSS[1 if topology.n_outputs == 1 else 2]


def prediction_rule(topology: Topology) -> str:
    return PREDICTION[1 if topology.n_outputs == 1 else 2]


@dataclass(frozen=True)
class Surrogate:
    """Per-(sample, output) cost ``errors·[a ≠ t] + hinge·max(0, kappa − t·z)``; ``Surrogate()`` is the
    documented loss."""

    errors: float = 1.0
    hinge: float = 0.0
    kappa: float = 0.0

    @property
    def is_documented(self) -> bool:
        return self.errors == 1.0 and self.hinge == 0.0

    def cost(self, Z: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Elementwise cost of output pre-activations ``Z`` against ±1 targets ``T`` (broadcast)."""
        tz = np.asarray(T, dtype=np.float64) * Z
        c = self.errors * ((Z >= 0) != (np.asarray(T) > 0))
        if self.hinge:
            c = c + self.hinge * np.maximum(self.kappa - tz, 0.0)
        return c


DOCUMENTED = Surrogate()


@dataclass
class TrainingProblem:
    """Training data, topology and optional linear weight penalties ``h`` (``F = loss + h·w``)."""

    topology: Topology
    X: np.ndarray  # int8 ±1 (S, d)
    y: np.ndarray
    weight_penalties: np.ndarray | None = None
    margin: float = 0.0  # λ of the compiled QUBO; the training strategies use λ = 0
    surrogate: Surrogate = DOCUMENTED  # what NetState / the LNS minimise (objective() is always documented)

    def __post_init__(self) -> None:
        self.X = np.asarray(self.X).astype(np.int8)
        self.y = np.asarray(self.y)
        self.T = self.topology.targets(self.y).astype(np.int32)  # (S, n_out) ±1
        if self.weight_penalties is None:
            self.weight_penalties = np.zeros(self.topology.n_weights)
        self.weight_penalties = np.asarray(self.weight_penalties, dtype=np.float64)

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    def objective(self, W: np.ndarray) -> np.ndarray | float:
        """``F(W) = loss + h·w`` for ``(n_w,)`` -> float or ``(R, n_w)`` -> ``(R,)`` (fresh forward pass)."""
        W = np.asarray(W)
        loss = np.asarray(self.topology.training_loss(W, self.X, self.y), dtype=np.float64)
        F = loss + W.astype(np.float64) @ self.weight_penalties
        return float(F) if np.ndim(F) == 0 else F

    def subset(self, idx: np.ndarray, weight_penalties: np.ndarray | None = None) -> "TrainingProblem":
        """The problem restricted to samples ``idx`` (a batch), with other penalties if given."""
        h = self.weight_penalties if weight_penalties is None else weight_penalties
        return TrainingProblem(self.topology, self.X[idx], self.y[idx], h, surrogate=self.surrogate)

    def with_surrogate(self, surrogate: Surrogate) -> "TrainingProblem":
        return TrainingProblem(self.topology, self.X, self.y, self.weight_penalties, surrogate=surrogate)

    def search_floor(self) -> float:
        """A lower bound of the search objective that no weights beat: samples with identical inputs get
        identical pre-activations, so a group of them with both targets on an output costs at least the
        group's minimum over every pre-activation ``z`` of that output's parity (``z ≡ fan-in mod 2``);
        plus ``−Σ|h|``. 0 (the documented loss) / the hinge's 0 when no input repeats with another target."""
        topo = self.topology
        _, inv = np.unique(self.X, axis=0, return_inverse=True)
        inv = np.asarray(inv).reshape(-1)
        floor = 0.0 - float(np.abs(self.weight_penalties).sum())  # (0.0 - x: no negative zero)
        for o, out in enumerate(topo.outputs):
            pos = np.bincount(inv, weights=(self.T[:, o] > 0), minlength=inv.max() + 1)
            neg = np.bincount(inv, weights=(self.T[:, o] < 0), minlength=inv.max() + 1)
            mixed = (pos > 0) & (neg > 0)
            if not mixed.any():
                continue
            n = topo.fan_in(int(out))
            z = np.arange(-n, n + 1, 2, dtype=np.float64)  # every reachable pre-activation
            cp, cm = self.surrogate.cost(z, 1.0), self.surrogate.cost(z, -1.0)
            floor += float((pos[mixed, None] * cp[None] + neg[mixed, None] * cm[None]).min(axis=1).sum())
        return floor

    def search_objective(self, W: np.ndarray) -> float:
        """The surrogate objective of one weight vector (equals :meth:`objective` for the documented one)."""
        if self.surrogate.is_documented:
            return float(self.objective(W))
        Z, _ = self.topology.forward(np.asarray(W), self.X)
        out = list(self.topology.outputs)
        return float(self.surrogate.cost(Z[:, out], self.T).sum() + np.asarray(W, dtype=np.float64) @ self.weight_penalties)


class NetState:
    """One network's weights with its pre-activations ``Z`` and activations ``A`` (int32 ``(S, N)``)
    on a problem's samples; block solvers read the per-sample cost of each activation value."""

    def __init__(self, problem: TrainingProblem, w: np.ndarray) -> None:
        self.p = problem
        topo = problem.topology
        self.topo = topo
        self.d, self.N = topo.n_inputs, topo.n_neurons
        self.out = np.asarray(topo.outputs, dtype=np.int64)
        self.out_pos = {int(o): i for i, o in enumerate(topo.outputs)}

        self.downstream = _descendants(topo)  # per neuron: the neurons reading it, transitively
        self.set_weights(w)

    def set_weights(self, w: np.ndarray) -> None:
        self.w = np.asarray(w).astype(np.int8).copy()
        Z, A = self.topo.forward(self.w, self.p.X)
        self.Z, self.A = Z.astype(np.int32), A.astype(np.int32)
        self.F = self.objective_from_state()

    def documented_objective(self) -> float:
        """The documented loss of the current weights plus ``h·w`` (what :meth:`TrainingProblem.objective`
        returns), whatever the surrogate."""
        return float(int((self.A[:, self.out] != self.p.T).sum()) + self.w.astype(np.float64) @ self.p.weight_penalties)

    def objective_from_state(self) -> float:
        if self.p.surrogate.is_documented:
            loss = float(int((self.A[:, self.out] != self.p.T).sum()))
        else:
            loss = float(self.p.surrogate.cost(self.Z[:, self.out], self.p.T).sum())
        return float(loss + self.w.astype(np.float64) @ self.p.weight_penalties)

    def inputs_of(self, j: int) -> np.ndarray:
        """Values feeding neuron ``j`` on every sample, int32 ``(S, fan_in)`` (bias column = 1)."""
        src = self.topo.sources[j]
        V = np.empty((self.p.n_samples, self.topo.fan_in(j)), dtype=np.int32)
        is_in = src < self.d
        V[:, : len(src)][:, is_in] = self.p.X[:, src[is_in]]
        V[:, : len(src)][:, ~is_in] = self.A[:, src[~is_in] - self.d]
        if self.topo.bias[j]:
            V[:, -1] = 1
        return V

    def activation_costs(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-sample loss ``(S,)`` of the whole network when ``a_j`` is forced to ``+1`` / ``−1`` and
        every weight is kept: exact, since nothing else depends on neuron ``j``'s incoming weights."""
        return self._forced_loss(j, 1), self._forced_loss(j, -1)

    def _forced_loss(self, j: int, value: int) -> np.ndarray:
        A = self.A.copy()
        A[:, j] = value
        Zo = self.Z[:, self.out].copy()
        d = self.d
        for k in self.downstream[j]:
            src = self.topo.sources[k]
            sl = self.topo.weight_slice(k)
            wk = self.w[sl].astype(np.int32)
            is_in = src < d
            z = self.p.X[:, src[is_in]].astype(np.int32) @ wk[: len(src)][is_in]
            z = z + A[:, src[~is_in] - d] @ wk[: len(src)][~is_in]
            if self.topo.bias[k]:
                z = z + wk[-1]
            A[:, k] = np.where(z >= 0, 1, -1)
            if k in self.out_pos:
                Zo[:, self.out_pos[k]] = z
        if self.p.surrogate.is_documented:
            return (A[:, self.out] != self.p.T).sum(axis=1).astype(np.int64)
        return self.p.surrogate.cost(Zo, self.p.T).sum(axis=1)

    def commit_neuron(self, j: int, w_j: np.ndarray) -> None:
        """Set neuron ``j``'s incoming weights and update ``Z``/``A``/``F`` downstream."""
        sl = self.topo.weight_slice(j)
        self.w[sl] = w_j
        for k in [j] + self.downstream[j]:
            z = self.inputs_of(k) @ self.w[self.topo.weight_slice(k)].astype(np.int32)
            self.Z[:, k] = z
            self.A[:, k] = np.where(z >= 0, 1, -1)
        self.F = self.objective_from_state()
