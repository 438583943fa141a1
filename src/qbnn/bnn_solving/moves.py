"""Feasibility-preserving cluster moves on compiled BNN QUBOs.

A *cluster move* flips one weight bit ``w_e`` together with every activation / product /
slack / error bit that depends on it, set consistently: it moves the QUBO state from
``repair(w)`` to ``repair(w')``. Its exact energy change is therefore ``F(w') − F(w)``,
where ``F(w) = loss(w) + R(w)`` is the compiled objective (the minimum QUBO energy over the
non-weight variables for fixed weights).

:class:`MoveState` keeps, per replica, the pre-activations ``Z (R,S,N)`` and activations
``A (R,S,N)`` (inputs never change, so they are not copied per candidate) and evaluates flips
*incrementally*: flipping edge ``i -> j`` changes ``z_j`` by ``−2·w·v_i`` on every sample; only
neurons downstream of a changed activation are touched (the change ``dA`` is zero elsewhere),
vectorised over replicas × candidates × samples with torch.

The loss part is computed exactly from the output activations; the compiler's margin term
``λ·R(w)``, ``R = −Σ_{s,j} |z_sj| / fan_in_j`` (``docs/formulation.md``), from the changed
pre-activations (``margin=λ``); linear weight penalties ``Σ h_e w_e`` from the flipped bit.
For an arbitrary objective callable, the part ``F(w) − loss(w)`` is handled by
:func:`fit_affine_residual`: if it is affine in ``w`` (margin 0 / linear penalties — verified
on random weight vectors) its coefficients are used incrementally; otherwise
:class:`MoveState` falls back to exact full re-evaluation of the objective for the
candidates (``exact_fallback``), which is slower but still exact.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from qbnn.margins import MarginSpec, reward
from qbnn.topology import Topology

Objective = Callable[[np.ndarray], np.ndarray]


@dataclass
class AffineResidual:
    """``F(w) − loss(w) = c + Σ_e h_e w_e`` (``w`` in ±1), when that holds."""

    c: float
    h: np.ndarray  # float64 (n_w,)


def fit_affine_residual(objective: Objective | None, topology: Topology, X: np.ndarray, y: np.ndarray,
                        rng: np.random.Generator | None = None, n_checks: int = 8, tol: float = 1e-7
                        ) -> AffineResidual | None:
    """Identify ``F − loss`` as an affine function of ±1 weights, or return None if it is not.

    With ``objective=None`` the objective *is* the loss (residual 0).
    """
    n_w = topology.n_weights
    if objective is None:
        return AffineResidual(0.0, np.zeros(n_w))
    rng = rng or np.random.default_rng(12345)

    def resid(W: np.ndarray) -> np.ndarray:
        F = np.asarray(objective(W), dtype=np.float64).reshape(-1)
        return F - np.asarray(topology.training_loss(W, X, y), dtype=np.float64).reshape(-1)

    w0 = rng.choice(np.array([-1, 1], dtype=np.int8), size=n_w)
    flips = np.repeat(w0[None], n_w, axis=0)
    flips[np.arange(n_w), np.arange(n_w)] *= -1
    r = resid(np.vstack([w0[None], flips]))
    h = -(r[1:] - r[0]) / (2.0 * w0)
    c = r[0] - float(h @ w0)
    Wc = rng.choice(np.array([-1, 1], dtype=np.int8), size=(n_checks, n_w))
    if not np.allclose(resid(Wc), c + Wc @ h, atol=tol, rtol=0):
        return None
    return AffineResidual(float(c), h)


class MoveState:
    """Per-replica network state with incremental single-weight-flip deltas.

    Parameters
    ----------
    topology, X, y : the training problem (``X`` ±1 ``(S,d)``; ``y`` as for ``Topology.targets``).
    W : int ±1 ``(R, n_w)`` initial weights (one row per replica).
    residual : affine part of the objective beyond the loss (None -> exact fallback via ``objective``).
    objective : exact ``F(W (R,n_w)) -> (R,)``; needed only when ``residual`` is None.
    """

    def __init__(self, topology: Topology, X: np.ndarray, y: np.ndarray, W: np.ndarray,
                 residual: AffineResidual | None = AffineResidual(0.0, np.zeros(0)),
                 objective: Objective | None = None, device: str | torch.device = "cpu",
                 margin: float = 0.0, margin_arrays: tuple | None = None) -> None:
        self.topo = topology
        self.device = torch.device(device)
        self.d, self.N, self.n_w = topology.n_inputs, topology.n_neurons, topology.n_weights
        dt = torch.float32
        self.dtype = dt
        self.X = torch.as_tensor(np.asarray(X), dtype=dt, device=self.device)
        self.T = torch.as_tensor(topology.targets(y), dtype=dt, device=self.device)
        self.out = torch.as_tensor(list(topology.outputs), dtype=torch.long, device=self.device)
        self.S = self.X.shape[0]
        if residual is not None and residual.h.shape[0] != self.n_w:
            residual = AffineResidual(residual.c, np.zeros(self.n_w)) if not residual.h.any() else residual
        self.residual = residual
        self.exact_fallback = residual is None
        if self.exact_fallback and objective is None:
            raise ValueError("an objective is needed when the residual is not affine")
        self.objective = objective
        # margin term of the objective: λ·R(w), R = −reward (qbnn.margins; paper form −Σ_{s,j} |z_sj| / fan_in_j)
        self.margin = float(margin)
        # margin variant (qbnn.margins.MarginSpec.arrays): reward weight_j·min(f_sj, cap_j); default |z|/fan_in
        if margin_arrays is None:
            margin_arrays = MarginSpec().arrays(topology, y)
        self.margin_np = tuple(np.asarray(a, dtype=np.float64) for a in margin_arrays)
        self.m_weight, self.m_sign, self.m_cap = (torch.as_tensor(a, dtype=torch.float64, device=self.device)
                                                  for a in self.margin_np)
        self.h = torch.as_tensor(residual.h if residual is not None else np.zeros(self.n_w), dtype=torch.float64,
                                 device=self.device)
        # per weight bit: owning neuron and source node (-1 = bias)
        neuron_of = np.zeros(self.n_w, dtype=np.int64)
        source_of = np.full(self.n_w, -1, dtype=np.int64)
        for k, src in enumerate(topology.sources):
            sl = topology.weight_slice(k)
            neuron_of[sl] = k
            source_of[sl.start: sl.start + len(src)] = src
        self.neuron_of_np = neuron_of
        self.neuron_of = torch.as_tensor(neuron_of, device=self.device)
        self.source_of = torch.as_tensor(source_of, device=self.device)
        # per neuron: its neuron-sources (indices into A) and the weight bits of those edges
        self.nb_src, self.nb_w = [], []
        for k, s in enumerate(topology.sources):
            s = np.asarray(s, dtype=np.int64)
            e = np.nonzero(s >= self.d)[0]
            self.nb_src.append(torch.as_tensor(s[e] - self.d, device=self.device))
            self.nb_w.append(torch.as_tensor(int(topology.weight_offsets[k]) + e, device=self.device))
        self.Xt = self.X.T.contiguous()  # (d, S)
        offs = np.asarray(topology.weight_offsets, dtype=np.int64)
        self.w_off = torch.as_tensor(offs[:-1], device=self.device)  # per neuron: first weight bit, count
        self.w_size = torch.as_tensor(np.diff(offs), device=self.device)
        self.set_weights(W)

    # ------------------------------------------------------------------ state
    def set_weights(self, W: np.ndarray) -> None:
        W = np.atleast_2d(np.asarray(W))
        Z, A = self.topo.forward(W, self.X.cpu().numpy().astype(np.int32))
        R = W.shape[0]
        self.W = torch.as_tensor(W, dtype=self.dtype, device=self.device)
        self.Z = torch.as_tensor(Z, dtype=self.dtype, device=self.device)
        self.A = torch.as_tensor(A, dtype=self.dtype, device=self.device)
        self.F = self.full_objective(W)

    @property
    def R(self) -> int:
        return int(self.W.shape[0])

    def weights(self) -> np.ndarray:
        return self.W.cpu().numpy().astype(np.int8)

    def loss_of(self, A: torch.Tensor) -> torch.Tensor:
        """Training loss from activations ``A (..., S, N)``."""
        return (A[..., self.out] != self.T).sum(dim=(-1, -2)).to(torch.float64)

    def full_objective(self, W: np.ndarray) -> torch.Tensor:
        """Exact F for weights ``(R, n_w)`` (float64 tensor ``(R,)``)."""
        W = np.atleast_2d(np.asarray(W))
        if self.exact_fallback:
            F = np.asarray(self.objective(W.astype(np.int8)), dtype=np.float64).reshape(-1)
        else:
            loss = np.asarray(self.topo.training_loss(W, self.X.cpu().numpy().astype(np.int32),
                                                      self._y_np()), dtype=np.float64).reshape(-1)
            F = loss + self.residual.c + W.astype(np.float64) @ self.residual.h
            if self.margin:
                Z, _ = self.topo.forward(W, self.X.cpu().numpy().astype(np.int32))
                F = F - self.margin * reward(Z, *self.margin_np)
        return torch.as_tensor(F, dtype=torch.float64, device=self.device)

    def _y_np(self) -> np.ndarray:
        T = self.T.cpu().numpy()
        if T.shape[1] == 1:
            return T[:, 0].astype(np.int8)
        return np.argmax(T, axis=1)

    # ------------------------------------------------------------------ moves
    def _edge_dz(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(w_e (R,C), dz (R,C,S))``: the flipped edge's weight and its change of its neuron's z."""
        R, C = idx.shape
        d = self.d
        w_e = torch.gather(self.W, 1, idx)
        s_e = self.source_of[idx]
        # value of the flipped edge's source on every sample (input, earlier neuron, or bias -> 1)
        v_in = self.Xt[s_e.clamp(0, d - 1)]  # (R,C,S)
        v_nb = torch.gather(self.A, 2, (s_e - d).clamp(0, self.N - 1)[:, None, :].expand(R, self.S, C)).permute(0, 2, 1)
        v_src = torch.where((s_e < 0)[..., None], torch.ones_like(v_in),
                            torch.where((s_e < d)[..., None], v_in, v_nb))
        return w_e, -2.0 * w_e[..., None] * v_src

    def pair_partner(self, idx: torch.Tensor, g: torch.Generator | None = None) -> torch.Tensor:
        """A uniformly random other edge into the same neuron as ``idx`` (itself when the neuron has one edge)."""
        k = self.neuron_of[idx]
        off = self.w_off[k]
        size = self.w_size[k]
        pos = idx - off
        u = torch.rand(idx.shape, generator=g, device=self.device)
        step = 1 + torch.floor(u * (size - 1).clamp(min=1)).long()
        return torch.where(size > 1, off + (pos + step) % size, idx)

    def propagate(self, idx: torch.Tensor, idx2: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Flip weight ``idx[r, c]`` of replica ``r`` (candidate ``c``), incrementally; with ``idx2``
        (``-1`` = none) also a second edge **into the same neuron** (a pair move).

        Returns ``(delta (R,C) float64, Z' (R,C,S,N), A' (R,C,S,N))``: exact objective change
        ``F(w') − F(w)`` and the flipped networks' pre-activations / activations.
        """
        R, C = idx.shape
        k_e = self.neuron_of[idx]  # (R,C)
        w_e, dz_flip = self._edge_dz(idx)
        pair = None
        if idx2 is not None:
            pair = (idx2 >= 0) & (idx2 != idx)
            w_e2, dz2 = self._edge_dz(idx2.clamp(min=0))
            dz_flip = dz_flip + torch.where(pair[..., None], dz2, torch.zeros_like(dz2))
        Z = self.Z[:, None].expand(R, C, self.S, self.N).clone()
        A = self.A[:, None].expand(R, C, self.S, self.N).clone()
        dA = torch.zeros((R, C, self.S, self.N), dtype=self.dtype, device=self.device)
        kmin = int(k_e.min())
        active = False
        for k in range(kmin, self.N):
            hit = k_e == k  # (R,C)
            any_hit = bool(hit.any())
            nb = self.nb_src[k]
            dsrc = dA[..., nb] if (active and nb.numel()) else None
            if dsrc is not None and not bool(dsrc.any()):
                dsrc = None
            if not any_hit and dsrc is None:
                continue
            dz = torch.zeros((R, C, self.S), dtype=self.dtype, device=self.device)
            if dsrc is not None:  # edges into k are unflipped unless the flip is on k itself
                dz = dz + torch.einsum("rcse,re->rcs", dsrc, self.W[:, self.nb_w[k]])
            if any_hit:
                dz = dz + torch.where(hit[..., None], dz_flip, torch.zeros_like(dz_flip))
            znew = Z[..., k] + dz
            anew = torch.where(znew >= 0, 1.0, -1.0).to(self.dtype)
            dA[..., k] = anew - A[..., k]
            Z[..., k] = znew
            A[..., k] = anew
            active = True
        if self.exact_fallback:
            Wn = self.W[:, None, :].expand(R, C, self.n_w).clone()
            Wn.scatter_(2, idx[..., None], -w_e[..., None])
            if pair is not None:
                i2 = torch.where(pair, idx2, idx)
                Wn.scatter_(2, i2[..., None], torch.where(pair, -w_e2, -w_e)[..., None])
            Fn = self.full_objective(Wn.reshape(R * C, self.n_w).cpu().numpy().astype(np.int8)).reshape(R, C)
            delta = Fn - self.F[:, None]
        else:
            dloss = self.loss_of(A) - self.loss_of(self.A)[:, None]
            delta = dloss - 2.0 * self.h[idx] * w_e.to(torch.float64)
            if pair is not None:
                delta = delta - torch.where(pair, 2.0 * self.h[idx2.clamp(min=0)] * w_e2.to(torch.float64),
                                            torch.zeros_like(delta))
            if self.margin:
                delta = delta - self.margin * (self._reward(Z) - self._reward(self.Z)[:, None])
        return delta, Z, A

    def _reward(self, Z: torch.Tensor) -> torch.Tensor:
        """Margin reward of pre-activations ``Z (..., S, N)`` -> ``(...)`` (qbnn.margins.reward in torch)."""
        Z = Z.to(torch.float64)
        f = torch.where(self.m_sign == 0, Z.abs(), (self.m_sign * Z).clamp(min=0.0))
        return (torch.minimum(f, self.m_cap) * self.m_weight).sum(dim=(-1, -2))

    def all_flip_deltas(self) -> torch.Tensor:
        """Exact deltas of every single-weight flip, ``(R, n_w)``."""
        idx = torch.arange(self.n_w, device=self.device)[None].expand(self.R, self.n_w)
        return self.propagate(idx)[0]

    def accept(self, idx: torch.Tensor, delta: torch.Tensor, Z: torch.Tensor, A: torch.Tensor,
               mask: torch.Tensor, c: torch.Tensor | None = None, idx2: torch.Tensor | None = None) -> None:
        """Commit, for replicas with ``mask``, candidate ``c`` (default 0) of a :meth:`propagate` call
        (with the same ``idx2`` for pair moves)."""
        if c is None:
            c = torch.zeros(self.R, dtype=torch.long, device=self.device)
        r = torch.nonzero(mask).reshape(-1)
        if r.numel() == 0:
            return
        cc = c[r]
        e = idx[r, cc]
        self.W[r, e] = -self.W[r, e]
        if idx2 is not None:
            e2 = idx2[r, cc]
            m2 = (e2 >= 0) & (e2 != e)
            r2, e2 = r[m2], e2[m2]
            self.W[r2, e2] = -self.W[r2, e2]
        self.Z[r] = Z[r, cc]
        self.A[r] = A[r, cc]
        self.F[r] = self.F[r] + delta[r, cc]

    def permute(self, perm: torch.Tensor) -> None:
        """Reorder replicas (used by replica exchange)."""
        self.W, self.Z, self.A, self.F = self.W[perm], self.Z[perm], self.A[perm], self.F[perm]
