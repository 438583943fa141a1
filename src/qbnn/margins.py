"""Margin regulariser variants (``docs/formulation.md``, "Margin variants").

Every variant rewards a per-(sample, neuron) margin ``m_sj`` scaled by ``1/fan_in_j``::

    R(w) = − Σ_{s, j ∈ J} min(m_sj, cap_j) / n_j

| form      | neurons ``J``  | ``m_sj``                                   | cap            |
|-----------|----------------|--------------------------------------------|----------------|
| ``abs``   | all            | ``|z_sj|`` (the paper's term)              | none           |
| ``signed``| all            | hidden: ``|z|``; output: ``max(t_s·z, 0)`` | none           |
| ``capped``| all            | ``|z_sj|``                                 | ``κ·n_j``      |
| ``hidden``| hidden only    | ``|z_sj|``                                 | none           |

``signed`` stops the paper's term from rewarding a confidently *wrong* output; ``capped`` bounds
the reward so that it cannot dominate the loss by inflating a few margins; ``hidden`` leaves the
output to the loss alone.  :class:`MarginProblem` is the objective ``loss + λ·R + Σ h·w`` as a
problem for :func:`qbnn.bnn_solving.solve_bnn` and :func:`qbnn.bnn_solving.exact_milp.solve_exact`,
without a QUBO (``capped`` has no quadratic form; see the compiler).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qbnn.errors import QbnnError
from qbnn.topology import Topology

FORMS = ("abs", "signed", "capped", "hidden")


@dataclass(frozen=True)
class MarginSpec:
    """Which margin term: ``form`` (one of :data:`FORMS`) and ``kappa`` (cap fraction, ``capped`` only)."""

    form: str = "abs"
    kappa: float | None = None

    def __post_init__(self) -> None:
        if self.form not in FORMS:
            raise QbnnError(f"margin form must be one of {FORMS}, got {self.form!r}")
        if self.form == "capped":
            k = self.kappa
            if k is None or not np.isfinite(k) or not 0 < float(k) <= 1:
                raise QbnnError(f"capped margin needs kappa in (0, 1], got {k!r}")
        elif self.kappa is not None:
            raise QbnnError(f"kappa applies to the capped margin only (form {self.form!r})")

    def arrays(self, topology: Topology, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(weight (N,), sign (S, N), cap (N,))``: reward ``weight_j·min(f_sj, cap_j)`` with
        ``f = |z|`` where ``sign == 0`` and ``max(sign·z, 0)`` elsewhere (``cap = inf``: none)."""
        N = topology.n_neurons
        fan = np.array([topology.fan_in(j) for j in range(N)], dtype=np.float64)
        weight = 1.0 / fan
        outs = list(topology.outputs)
        if self.form == "hidden":
            weight[outs] = 0.0
        sign = np.zeros((len(np.asarray(y)), N), dtype=np.float64)
        if self.form == "signed":
            sign[:, outs] = topology.targets(y)
        cap = np.full(N, np.inf)
        if self.form == "capped":
            cap = float(self.kappa) * fan
        return weight, sign, cap

    def to_attrs(self) -> dict:
        return {"margin_form": self.form, "margin_kappa": -1.0 if self.kappa is None else float(self.kappa)}

    @classmethod
    def from_attrs(cls, attrs: dict) -> "MarginSpec":
        form = attrs.get("margin_form", "abs")
        form = form.decode() if isinstance(form, bytes) else str(form)
        kappa = float(attrs.get("margin_kappa", -1.0))
        return cls(form, None if kappa < 0 else kappa)


def reward(Z: np.ndarray, weight: np.ndarray, sign: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """``Σ_{s,j} weight_j·min(f_sj, cap_j)`` over the last two axes of ``Z (..., S, N)``."""
    Z = np.asarray(Z, dtype=np.float64)
    f = np.where(sign == 0, np.abs(Z), np.maximum(sign * Z, 0.0))
    return (np.minimum(f, cap) * weight).sum(axis=(-1, -2))


@dataclass
class MarginProblem:
    """``F(w) = loss(w) − λ·reward(w) + Σ h·w``: a problem for the move-based strategies and the
    exact MILP (no QUBO; the compiler's ``CompiledBNN`` is the QUBO form of the same objective)."""

    topology: Topology
    X: np.ndarray
    y: np.ndarray
    margin: float = 0.0
    spec: MarginSpec = field(default_factory=MarginSpec)
    weight_penalties: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.X = np.asarray(self.X)
        self.y = np.asarray(self.y)
        self.topology.check_inputs(self.X.shape[1])
        self.margin = float(self.margin)
        if not np.isfinite(self.margin) or self.margin < 0:
            raise QbnnError(f"margin λ must be a finite number >= 0, got {self.margin}")
        nw = self.topology.n_weights
        h = np.zeros(nw) if self.weight_penalties is None else np.asarray(self.weight_penalties, np.float64).ravel()
        if h.shape != (nw,):
            raise QbnnError(f"weight penalties have {h.size} entries, topology has {nw} weights")
        self.weight_penalties = h

    def objective(self, W: np.ndarray) -> np.ndarray | float:
        W = np.asarray(W)
        single = W.ndim == 1
        W2 = np.atleast_2d(W)
        Z, A = self.topology.forward(W2, self.X)
        T = self.topology.targets(self.y)
        loss = (A[..., list(self.topology.outputs)] != T[None]).sum(axis=(1, 2)).astype(np.float64)
        F = loss + W2.astype(np.float64) @ self.weight_penalties
        if self.margin:
            F = F - self.margin * reward(Z, *self.spec.arrays(self.topology, self.y))
        return float(F[0]) if single else F
