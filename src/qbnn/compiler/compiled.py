"""``CompiledBNN``: a compiled QUBO plus what decodes, repairs and evaluates its states.

Objective for a weight vector ``w`` (what ``CompiledBNN.objective`` evaluates)::

    F(w) = loss(w) + λ·R(w) + Σ_e h_e·w_e,     R(w) = −Σ_{s,j} |z_sj| / fan_in_j

and ``min_{other bits} E(w, ·) = F(w)`` whenever ``penalty >= penalty_min``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qbnn.compiler.layout import NeuronLayout, encode_slack
from qbnn.errors import QbnnError
from qbnn.margins import MarginSpec, reward
from qbnn.qubo import QUBO, state_batch
from qbnn.topology import Topology


@dataclass
class CompiledBNN:
    """A compiled QUBO plus everything needed to decode, repair and evaluate states."""

    topology: Topology
    X: np.ndarray
    y: np.ndarray
    margin: float
    weight_penalties: np.ndarray
    penalty: float
    penalty_min: float
    qubo: QUBO
    layout: list[NeuronLayout] = field(repr=False)
    stride: int = 0
    margin_spec: MarginSpec = field(default_factory=MarginSpec)

    # ---------------------------------------------------------- geometry
    @property
    def n_weights(self) -> int:
        return self.topology.n_weights

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def num_variables(self) -> int:
        return self.qubo.num_variables

    @property
    def weight_index(self) -> np.ndarray:
        """QUBO indices of the weight bits, canonical weight order (they are 0..n_weights-1)."""
        return np.arange(self.n_weights, dtype=np.int64)

    def _base(self) -> np.ndarray:
        return self.n_weights + self.stride * np.arange(self.n_samples, dtype=np.int64)

    def activation_index(self) -> np.ndarray:
        """int64 ``(S, N)``: QUBO index of activation bit ``α_sj``."""
        return self._base()[:, None] + np.array([nl.alpha for nl in self.layout], dtype=np.int64)[None]

    def slack_index(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Neuron ``j``'s slack bits: indices ``(S, L)`` and their coefficients ``(L,)``."""
        nl = self.layout[j]
        return self._base()[:, None] + nl.slack + np.arange(len(nl.coefs))[None], nl.coefs.copy()

    def product_index(self, j: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Neuron ``j``'s product bits ``(S, E)``, their weight indices ``(E,)`` and source neurons ``(E,)``."""
        nl = self.layout[j]
        E = len(nl.nb_pos)
        return self._base()[:, None] + nl.prod + np.arange(E)[None], nl.w0 + nl.nb_pos, nl.nb_src.copy()

    # ---------------------------------------------------------- evaluation
    def objective(self, weights: np.ndarray) -> np.ndarray | float:
        """``F(w) = loss + λ·R + h·w`` by a plain forward pass; ``(n_w,)`` -> float, ``(R, n_w)`` -> ``(R,)``."""
        W = np.asarray(weights)
        single = W.ndim == 1
        W = np.atleast_2d(W)
        _check_weights(W, self.n_weights)
        Z, A = self.topology.forward(W, self.X)
        T = self.topology.targets(self.y)
        loss = (A[..., list(self.topology.outputs)] != T[None]).sum(axis=(1, 2)).astype(np.float64)
        R = -reward(Z, *self.margin_spec.arrays(self.topology, self.y))
        F = loss + self.margin * R + W.astype(np.float64) @ self.weight_penalties
        return float(F[0]) if single else F

    def decode(self, x: np.ndarray) -> np.ndarray:
        """±1 int8 weights from a 0/1 state ``(n,)`` or batch ``(R, n)`` (bit 1 -> +1)."""
        x = np.asarray(x)
        if x.shape[-1] != self.num_variables:
            raise QbnnError(f"sample has {x.shape[-1]} variables, QUBO has {self.num_variables}")
        if not np.isin(x, (0, 1)).all():
            raise QbnnError("sample must contain only 0/1 values")
        return (2 * x[..., : self.n_weights].astype(np.int8) - 1).astype(np.int8)

    def repair(self, weights: np.ndarray) -> np.ndarray:
        """Optimal completion (int8 0/1 state) of weights ``(n_w,)`` or ``(R, n_w)``; energy == objective."""
        W = np.asarray(weights)
        single = W.ndim == 1
        W = np.atleast_2d(W)
        _check_weights(W, self.n_weights)
        R = W.shape[0]
        Z, A = self.topology.forward(W, self.X)  # (R, S, N)
        S = self.n_samples
        blk = np.zeros((R, S, self.stride), dtype=np.int8)
        alpha = (A > 0).astype(np.int8)
        for j, nl in enumerate(self.layout):
            blk[:, :, nl.alpha] = alpha[:, :, j]
            zp = (Z[:, :, j].astype(np.int64) + nl.n) // 2
            k = zp + nl.delta - (nl.K + 1) * alpha[:, :, j]
            blk[:, :, nl.slack: nl.slack + len(nl.coefs)] = encode_slack(k, nl.coefs)
            if len(nl.nb_pos):
                u = (W[:, nl.w0 + nl.nb_pos] > 0).astype(np.int8)  # (R, E)
                blk[:, :, nl.prod: nl.prod + len(nl.nb_pos)] = u[:, None, :] * alpha[:, :, nl.nb_src]
        x = np.concatenate([(W > 0).astype(np.int8), blk.reshape(R, -1)], axis=1)
        return x[0] if single else x

    def energy(self, x: np.ndarray) -> np.ndarray | float:
        return self.qubo.energy(x)

    def violations(self, x: np.ndarray) -> np.ndarray | int:
        """Number of violated constraints (sign equalities + product definitions) of raw 0/1 states."""
        x, single = state_batch(x, self.num_variables, np.int64, "sample")
        R, S = x.shape[0], self.n_samples
        u = x[:, : self.n_weights]
        blk = x[:, self.n_weights:].reshape(R, S, self.stride)
        Xi = self.X.astype(np.int64)
        count = np.zeros(R, dtype=np.int64)
        for j, nl in enumerate(self.layout):
            wsl = np.arange(nl.w0, nl.w0 + nl.n)
            src = self.topology.sources[j]
            r = np.zeros((R, S), dtype=np.int64) + nl.delta
            if len(nl.in_pos):
                xin = Xi[:, src[nl.in_pos]]  # (S, E)
                r += (u[:, wsl[nl.in_pos]] @ xin.T) + ((1 - xin) // 2).sum(axis=1)[None]
            if self.topology.bias[j]:
                r += u[:, wsl[-1]][:, None]
            if len(nl.nb_pos):
                uu = u[:, wsl[nl.nb_pos]]  # (R, E)
                p = blk[:, :, nl.prod: nl.prod + len(nl.nb_pos)]
                a_src = blk[:, :, [self.layout[i].alpha for i in nl.nb_src]]
                r += (2 * p - a_src + 1).sum(axis=2) - uu.sum(axis=1)[:, None]
                count += (p != uu[:, None, :] * a_src).sum(axis=(1, 2))
            r -= (nl.K + 1) * blk[:, :, nl.alpha]
            r -= blk[:, :, nl.slack: nl.slack + len(nl.coefs)] @ nl.coefs
            count += (r != 0).sum(axis=1)
        return int(count[0]) if single else count


def _check_weights(W: np.ndarray, n: int) -> None:
    if W.ndim != 2 or W.shape[1] != n:
        raise QbnnError(f"weights must have shape ({n},) or (R, {n}), got {W.shape}")
    if not np.isin(W, (-1, 1)).all():
        raise QbnnError("weights must all be -1 or +1")
