"""Exact QUBO compiler for BNN training (formulation in ``docs/formulation.md``).

``compile_bnn(topology, X, y, margin, weight_penalties, penalty) -> CompiledBNN``.

Variables (0/1): weight bits ``u`` (``w = 2u - 1``, canonical weight order, indices
``0..n_weights-1``), then one block per sample (sample-major) holding, for each neuron
``j`` in topological order: its activation bit ``α_j`` (``a = 2α - 1``), its capped
binary slack bits, and one product bit ``p = u·α_src`` per edge from another neuron.

Objective for a weight vector ``w`` (what ``CompiledBNN.objective`` evaluates)::

    F(w) = loss(w) + λ·R(w) + Σ_e h_e·w_e,     R(w) = −Σ_{s,j} |z_sj| / fan_in_j

and ``min_{other bits} E(w, ·) = F(w)`` whenever ``penalty >= penalty_min``.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qbnn.errors import QbnnError
from qbnn.margins import MarginSpec, reward
from qbnn.qubo import QUBO, VAR_KINDS
from qbnn.topology import Topology

FORMULATION_VERSION = 2  # 2: margin variants (attrs margin_form / margin_kappa); abs-form files stay version 1
FORMULATION = "qbnn-sign-slack-v1"

_K = {k: i for i, k in enumerate(VAR_KINDS)}


# ----------------------------------------------------------------- layout
@dataclass
class _NeuronLayout:
    n: int  # fan-in (edges + bias)
    K: int  # slack range [0, K] (= n // 2)
    delta: int  # 1 when n is even (tie shift), else 0
    coefs: np.ndarray  # capped binary slack coefficients, int64 (L,)
    alpha: int  # offset of α_j inside a sample block
    slack: int  # offset of first slack bit
    prod: int  # offset of first product bit
    in_pos: np.ndarray  # positions (within the neuron's edges) of input-pixel edges
    nb_pos: np.ndarray  # positions of edges from neurons
    nb_src: np.ndarray  # source neuron index of those edges
    w0: int  # global index of the neuron's first weight


def _slack_coefs(K: int) -> np.ndarray:
    L = int(K).bit_length()
    if L == 0:
        return np.zeros(0, dtype=np.int64)
    c = [1 << i for i in range(L - 1)]
    c.append(K - ((1 << (L - 1)) - 1))
    return np.array(c, dtype=np.int64)


def _layout(topo: Topology) -> tuple[list[_NeuronLayout], int]:
    d = topo.n_inputs
    out, off = [], 0
    for j, src in enumerate(topo.sources):
        n = topo.fan_in(j)
        K = n // 2
        coefs = _slack_coefs(K)
        is_nb = src >= d
        nl = _NeuronLayout(
            n=n, K=K, delta=1 - n % 2, coefs=coefs, alpha=off, slack=off + 1, prod=off + 1 + len(coefs),
            in_pos=np.flatnonzero(~is_nb), nb_pos=np.flatnonzero(is_nb), nb_src=(src[is_nb] - d).astype(np.int64),
            w0=int(topo.weight_offsets[j]),
        )
        off = nl.prod + len(nl.nb_pos)
        out.append(nl)
    return out, off


def penalty_bound(topo: Topology, margin: float) -> float:
    """Smallest penalty weight for which the QUBO is exact (see docs/formulation.md)."""
    gmax = sum((topo.fan_in(j) + 2 * (1 - topo.fan_in(j) % 2)) / topo.fan_in(j) for j in range(topo.n_neurons))
    return float(topo.n_outputs + margin * gmax)


def _check_data(topo: Topology, X, y) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2:
        raise QbnnError(f"X must be 2-D (samples x inputs), got shape {X.shape}")
    topo.check_inputs(X.shape[1])
    if X.shape[0] == 0:
        raise QbnnError("no training samples")
    if not np.isin(X, (-1, 1)).all():
        raise QbnnError("X must contain only -1/+1 values")
    if y.shape != (X.shape[0],):
        raise QbnnError(f"y has shape {y.shape}, expected ({X.shape[0]},)")
    if topo.n_outputs == 1 and not np.isin(y, (-1, 1)).all():
        raise QbnnError("binary task (one output): y must contain only -1/+1 values")
    if topo.n_outputs > 1 and not np.issubdtype(y.dtype, np.integer) and not np.all(np.mod(y, 1) == 0):
        raise QbnnError("multi-output task: y must hold integer class indices")
    return X.astype(np.int8), y.astype(np.int64)


def data_hash(X: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in (np.ascontiguousarray(X, dtype=np.int8), np.ascontiguousarray(y, dtype=np.int64)):
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------- compiled
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
    layout: list[_NeuronLayout] = field(repr=False)
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
            blk[:, :, nl.slack: nl.slack + len(nl.coefs)] = _encode_slack(k, nl.coefs)
            if len(nl.nb_pos):
                u = (W[:, nl.w0 + nl.nb_pos] > 0).astype(np.int8)  # (R, E)
                blk[:, :, nl.prod: nl.prod + len(nl.nb_pos)] = u[:, None, :] * alpha[:, :, nl.nb_src]
        x = np.concatenate([(W > 0).astype(np.int8), blk.reshape(R, -1)], axis=1)
        return x[0] if single else x

    def energy(self, x: np.ndarray) -> np.ndarray | float:
        return self.qubo.energy(x)

    def violations(self, x: np.ndarray) -> np.ndarray | int:
        """Number of violated constraints (sign equalities + product definitions) of raw 0/1 states."""
        x = np.asarray(x)
        single = x.ndim == 1
        x = np.atleast_2d(x).astype(np.int64)
        if x.shape[1] != self.num_variables:
            raise QbnnError(f"sample has {x.shape[1]} variables, QUBO has {self.num_variables}")
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


def _encode_slack(k: np.ndarray, coefs: np.ndarray) -> np.ndarray:
    """Capped binary encoding of integer ``k`` in ``[0, Σ coefs]`` -> int8 bits ``k.shape + (L,)``."""
    L = len(coefs)
    bits = np.zeros(k.shape + (L,), dtype=np.int8)
    if L == 0:
        return bits
    rem = k.copy()
    top = (1 << (L - 1)) - 1
    hi = rem > top
    bits[..., L - 1] = hi
    rem = rem - hi * coefs[L - 1]
    for i in range(L - 1):
        bits[..., i] = (rem >> i) & 1
    return bits


# ---------------------------------------------------------------- compile
def compile_bnn(
    topology: Topology,
    X: np.ndarray,
    y: np.ndarray,
    margin: float = 0.0,
    weight_penalties: np.ndarray | None = None,
    penalty: float | None = None,
    margin_spec: MarginSpec | None = None,
) -> CompiledBNN:
    """Compile exact BNN training into a QUBO (see module docstring and docs/formulation.md).

    ``margin_spec`` (:class:`qbnn.margins.MarginSpec`, default the paper's ``abs`` form): ``abs``,
    ``signed`` and ``hidden`` are quadratic in the activation and slack bits; ``capped`` is not
    (min of a slack-linear term and a constant) and is refused here — solve it with
    :class:`qbnn.margins.MarginProblem` (move-based strategies, exact MILP)."""
    topo = topology
    X, y = _check_data(topo, X, y)
    margin = float(margin)
    if not np.isfinite(margin) or margin < 0:
        raise QbnnError(f"margin λ must be a finite number >= 0, got {margin}")
    spec = margin_spec or MarginSpec()
    if spec.form == "capped" and margin:
        raise QbnnError("the capped margin min(|z|, κ·fan-in) has no QUBO form without extra variables; "
                        "use the exact MILP or the move-based strategies on qbnn.margins.MarginProblem")
    from qbnn.memory import guard_compile

    guard_compile(topo, X.shape[0], margin)  # refuse early instead of meeting the OOM killer
    nw = topo.n_weights
    if weight_penalties is None:
        h = np.zeros(nw, dtype=np.float64)
    else:
        h = np.asarray(weight_penalties, dtype=np.float64).reshape(-1)
        if h.shape != (nw,):
            raise QbnnError(f"weight penalties have {h.size} entries, topology has {nw} weights")
        if not np.isfinite(h).all():
            raise QbnnError("weight penalties contain NaN or infinite values")
    pmin = penalty_bound(topo, margin)
    if penalty is None:
        P = pmin
    else:
        P = float(penalty)
        if not np.isfinite(P) or P < pmin - 1e-12:
            raise QbnnError(f"penalty {penalty} is below the exactness bound {pmin:g} (n_outputs + λ·Σ_j G_j)")
    T = topo.targets(y).astype(np.int64)  # (S, n_out)
    layout, stride = _layout(topo)
    S = X.shape[0]
    n = nw + S * stride
    base = nw + stride * np.arange(S, dtype=np.int64)  # (S,)
    Xi = X.astype(np.int64)

    linear = np.zeros(n, dtype=np.float64)
    Lin = linear[nw:].reshape(S, stride)  # view: per-sample linear terms
    offset = 0.0
    R_, C_, V_ = [], [], []  # global (weight x anything) terms, unique by construction
    tr, tc, tv = [], [], []  # per-sample template (offsets within a sample block)

    # weight penalties h·w = Σ 2h u − Σ h
    linear[:nw] += 2 * h
    offset -= float(h.sum())

    for j, nl in enumerate(layout):
        src = topo.sources[j]
        wsl = np.arange(nl.w0, nl.w0 + nl.n, dtype=np.int64)
        # weight coefficients a (S, n) and constant c0 (S,)
        A = np.empty((S, nl.n), dtype=np.float64)
        c0 = np.full(S, float(nl.delta))
        if len(nl.in_pos):
            xin = Xi[:, src[nl.in_pos]]
            A[:, nl.in_pos] = xin
            c0 += ((1 - xin) // 2).sum(axis=1)
        A[:, nl.nb_pos] = -1
        c0 += len(nl.nb_pos)
        if topo.bias[j]:
            A[:, -1] = 1
        # local variables: α_j, slack bits, then per neuron edge (p_e, α_src)
        L = len(nl.coefs)
        loc_off = [nl.alpha] + [nl.slack + i for i in range(L)]
        loc_b = [-(nl.K + 1)] + [-int(c) for c in nl.coefs]
        for e, i in enumerate(nl.nb_src):
            loc_off += [nl.prod + e, layout[i].alpha]
            loc_b += [2, -1]
        loc_off = np.array(loc_off, dtype=np.int64)
        b = np.array(loc_b, dtype=np.float64)
        m = len(b)
        # P·r², r = c0 + A·u + b·y   (y = this neuron's sample-local variables)
        offset += P * float(c0 @ c0)
        linear[wsl] += P * (2 * c0 @ A + (A * A).sum(axis=0))
        Lin[:, loc_off] += P * (2 * c0[:, None] * b[None] + b[None] ** 2)
        G = 2 * P * (A.T @ A)
        iu, ju = np.triu_indices(nl.n, 1)
        R_.append(wsl[iu]); C_.append(wsl[ju]); V_.append(G[iu, ju])
        # u–y cross terms (S, n, m), with the Rosenberg u·α_src and −2u·p terms folded in
        V = (2 * P) * A[:, :, None] * b[None, None, :]
        for e in range(len(nl.nb_pos)):
            V[:, nl.nb_pos[e], 1 + L + 2 * e] += -2 * P  # u·p
            V[:, nl.nb_pos[e], 1 + L + 2 * e + 1] += P  # u·α_src
        R_.append(np.broadcast_to(wsl[None, :, None], (S, nl.n, m)).ravel())
        C_.append((base[:, None, None] + loc_off[None, None, :] + np.zeros((1, nl.n, 1), np.int64)).ravel())
        V_.append(V.ravel())
        # y–y terms (same for every sample)
        if m > 1:
            iy, jy = np.triu_indices(m, 1)
            tr.append(loc_off[iy]); tc.append(loc_off[jy]); tv.append(2 * P * b[iy] * b[jy])
        # Rosenberg p = u·α_src: P(uα − 2up − 2αp + 3p); the u-terms are folded above
        for e, i in enumerate(nl.nb_src):
            tr.append(np.array([layout[i].alpha])); tc.append(np.array([nl.prod + e])); tv.append(np.array([-2 * P]))
            Lin[:, nl.prod + e] += 3 * P
        is_out = j in topo.outputs
        if margin and not (is_out and spec.form == "hidden"):
            o = nl.n % 2
            lam = margin / nl.n
            if is_out and spec.form == "signed":
                # reward [a = t]·|z|: t = +1: α(2k + o); t = −1: n + 2δ − 2k + α(2k − n − 2δ)
                neg = T[:, list(topo.outputs).index(j)] < 0
                offset -= lam * (nl.n + 2 * nl.delta) * float(neg.sum())
                Lin[:, nl.alpha] -= lam * np.where(neg, -(nl.n + 2 * nl.delta), o)
                for i, c in enumerate(nl.coefs):
                    Lin[:, nl.slack + i] += 2 * lam * c * neg
                    tr.append(np.array([nl.alpha])); tc.append(np.array([nl.slack + i])); tv.append(np.array([-2 * lam * c]))
            else:  # margin reward λ·R_sj = −λ/n·(n + 2δ − 2k + α(4k + o − n − 2δ))
                offset -= S * lam * (nl.n + 2 * nl.delta)
                Lin[:, nl.alpha] -= lam * (o - nl.n - 2 * nl.delta)
                for i, c in enumerate(nl.coefs):
                    Lin[:, nl.slack + i] += 2 * lam * c
                    tr.append(np.array([nl.alpha])); tc.append(np.array([nl.slack + i])); tv.append(np.array([-4 * lam * c]))

    # loss: Σ_o [a_o ≠ t_o] = α if t = −1 else 1 − α
    for oi, j in enumerate(topo.outputs):
        t = T[:, oi]
        Lin[:, layout[j].alpha] += np.where(t > 0, -1.0, 1.0)
        offset += float((t > 0).sum())

    # merge the per-sample template (duplicates: shared source pairs, Rosenberg, margin) and tile it
    if tr:
        a, c = np.concatenate(tr), np.concatenate(tc)
        lo, hi = np.minimum(a, c), np.maximum(a, c)
        key, inv = np.unique(lo * stride + hi, return_inverse=True)
        tvals = np.bincount(inv.ravel(), weights=np.concatenate(tv), minlength=len(key))
        keep = tvals != 0
        key, tvals = key[keep], tvals[keep]
        R_.append((base[:, None] + (key // stride)[None]).ravel())
        C_.append((base[:, None] + (key % stride)[None]).ravel())
        V_.append(np.broadcast_to(tvals[None], (S, len(key))).ravel())

    kind = np.empty(n, dtype=np.int32)
    sample = np.full(n, -1, dtype=np.int32)
    neuron = np.full(n, -1, dtype=np.int32)
    edge = np.full(n, -1, dtype=np.int32)
    bit = np.full(n, -1, dtype=np.int32)
    kind[:nw] = _K["weight"]
    edge[:nw] = np.arange(nw)
    for j in range(topo.n_neurons):
        neuron[topo.weight_slice(j)] = j
    bk = np.empty(stride, dtype=np.int32)
    bn = np.empty(stride, dtype=np.int32)
    be = np.full(stride, -1, dtype=np.int32)
    bb = np.full(stride, -1, dtype=np.int32)
    for j, nl in enumerate(layout):
        bk[nl.alpha] = _K["activation"]
        bn[nl.alpha: nl.prod + len(nl.nb_pos)] = j
        bk[nl.slack: nl.prod] = _K["slack"]
        bb[nl.slack: nl.prod] = np.arange(len(nl.coefs))
        bk[nl.prod: nl.prod + len(nl.nb_pos)] = _K["product"]
        be[nl.prod: nl.prod + len(nl.nb_pos)] = nl.w0 + nl.nb_pos
    kind[nw:] = np.tile(bk, S)
    neuron[nw:] = np.tile(bn, S)
    edge[nw:] = np.tile(be, S)
    bit[nw:] = np.tile(bb, S)
    sample[nw:] = np.repeat(np.arange(S, dtype=np.int32), stride)

    rows = np.concatenate(R_) if R_ else np.zeros(0, np.int64)
    cols = np.concatenate(C_) if C_ else np.zeros(0, np.int64)
    vals = np.concatenate(V_) if V_ else np.zeros(0)
    nzq = vals != 0
    if not nzq.all():
        rows, cols, vals = rows[nzq], cols[nzq], vals[nzq]
    attrs: dict[str, Any] = {
        "formulation": FORMULATION,
        "formulation_version": 1 if spec.form == "abs" else FORMULATION_VERSION,
        "margin": margin,
        **spec.to_attrs(),
        "penalty": P,
        "penalty_min": pmin,
        "data_hash": data_hash(X, y),
        "n_samples": int(S),
        "n_weights": int(nw),
        "topology": topo.to_json(),
    }
    qubo = QUBO(linear, rows, cols, vals, offset,
                         varmap={"kind": kind, "sample": sample, "neuron": neuron, "edge": edge, "bit": bit},
                         attrs=attrs)
    return CompiledBNN(topo, X, y, margin, h, P, pmin, qubo, layout, stride, spec)


# ---------------------------------------------------------------- storage
def save_compiled(cb: CompiledBNN, path: str | os.PathLike) -> None:
    """Write the QUBO HDF5 with the data and weight penalties beside it (docs/qubo-format.md)."""
    cb.qubo.save(path, extra={
        "data/X": cb.X.astype(np.int8),
        "data/y": cb.y.astype(np.int64),
        "compiler/weight_penalties": cb.weight_penalties.astype(np.float64),
    })


def load_compiled(path: str | os.PathLike) -> CompiledBNN:
    """Rebuild a :class:`CompiledBNN` from a QUBO file written by :func:`save_compiled`."""
    from qbnn.validate import reading

    with reading(path, "QUBO file"):
        return _load_compiled(path)


def _load_compiled(path) -> CompiledBNN:
    from qbnn.io import open_h5

    q = QUBO.load(path)
    if q.attrs.get("formulation") != FORMULATION:
        raise QbnnError(f"{path} was not written by the qbnn compiler (formulation {q.attrs.get('formulation')!r})")
    if int(q.attrs.get("formulation_version", 0)) > FORMULATION_VERSION:
        raise QbnnError(f"{path} has formulation version {q.attrs.get('formulation_version')}; this qbnn reads up to {FORMULATION_VERSION}")
    with open_h5(path, "QUBO file") as f:
        for name in ("data/X", "data/y", "compiler/weight_penalties"):
            if name not in f:
                raise QbnnError(f"{path} lacks dataset /{name}")
        X = f["data/X"][()]
        y = f["data/y"][()]
        h = f["compiler/weight_penalties"][()]
    spec = q.attrs["topology"]
    topo = Topology.from_spec(spec if isinstance(spec, dict) else json.loads(spec))
    X, y, h = np.asarray(X), np.asarray(y), np.asarray(h)
    if X.ndim != 2 or X.shape[1] != topo.n_inputs or (X.size and not np.isin(X, (-1, 1)).all()):
        raise QbnnError(f"{path}: /data/X must be ±1 of shape (samples, {topo.n_inputs})")
    if y.ndim != 1 or len(y) != len(X) or y.dtype.kind not in "biu":
        raise QbnnError(f"{path}: /data/y must be integer labels, one per row of /data/X")
    if h.shape != (topo.n_weights,) or h.dtype.kind not in "biuf" or not np.isfinite(h).all():
        raise QbnnError(f"{path}: /compiler/weight_penalties must be {topo.n_weights} finite numbers")
    layout, stride = _layout(topo)
    if topo.n_weights + stride * X.shape[0] != q.num_variables:
        raise QbnnError(f"{path}: variable count does not match its topology and data")
    from qbnn.validate import check_number

    margin = check_number("attribute margin", q.attrs.get("margin"), minimum=0)
    penalty = check_number("attribute penalty", q.attrs.get("penalty"), minimum=0, strict=True)
    penalty_min = check_number("attribute penalty_min", q.attrs.get("penalty_min"), minimum=0)
    return CompiledBNN(topo, X.astype(np.int8), y.astype(np.int64), margin, h.astype(np.float64),
                       penalty, penalty_min, q, layout, stride, MarginSpec.from_attrs(q.attrs))


# ---------------------------------------------------------------- file helpers
def load_training_data(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """``(X_train, y_train)`` from a dataset HDF5.

    Files with ``format="qbnn-data"`` go through :func:`qbnn.data.store.load_dataset` (full
    validation); other HDF5 files only need ``/train/X`` (±1) and ``/train/y``.
    """
    from qbnn.io import open_h5

    with open_h5(path, "dataset file") as f:
        from qbnn.validate import text_attr

        if text_attr(f.attrs.get("format")) != "qbnn-data":  # any other attribute value: a foreign file
            for name in ("train/X", "train/y"):
                if name not in f:
                    raise QbnnError(f"dataset {path}: missing dataset /{name}")
            return f["train/X"][()], f["train/y"][()]
    try:
        from qbnn.data.store import load_dataset
    except ImportError:  # pragma: no cover - data package absent
        with open_h5(path, "dataset file") as f:
            return f["train/X"][()], f["train/y"][()]
    Xtr, ytr = load_dataset(path)[:2]
    return Xtr, ytr


def load_weight_penalties(path: str | os.PathLike) -> np.ndarray:
    """Weight penalties ``h`` from ``.npy`` or HDF5 (``/weight_penalties``, ``/h`` or ``/penalties``)."""
    from qbnn.validate import reading

    with reading(path, "weight-penalty file"):
        h = _read_weight_penalties(path)
    if h.dtype.kind not in "biuf":
        raise QbnnError(f"weight-penalty file {path} must hold numbers, got {h.dtype}")
    return np.asarray(h, dtype=np.float64).reshape(-1)


def _read_weight_penalties(path) -> np.ndarray:
    from qbnn.io import open_h5, require_file

    p = require_file(path, "weight-penalty file")
    if p.suffix == ".npy":
        try:
            return np.asarray(np.load(p, allow_pickle=False))
        except (OSError, ValueError) as exc:
            raise QbnnError(f"weight-penalty file {p} is not a readable .npy array ({exc.__class__.__name__})") from None
    with open_h5(p, "weight-penalty file") as f:
        for name in ("weight_penalties", "h", "penalties", "compiler/weight_penalties"):
            if name in f and hasattr(f[name], "dtype"):
                return np.asarray(f[name][()])
    raise QbnnError(f"weight-penalty file {p} has no dataset /weight_penalties, /h or /penalties")


def bqm_serializable(q: QUBO) -> dict:
    """dimod ``BinaryQuadraticModel.to_serializable()`` dict (schema 3.0.0, BINARY), built without dimod."""
    return {
        "type": "BinaryQuadraticModel",
        "version": {"bqm_schema": "3.0.0"},
        "use_bytes": False,
        "index_type": "int64",
        "bias_type": "float64",
        "num_variables": q.num_variables,
        "num_interactions": q.num_interactions,
        "variable_labels": list(range(q.num_variables)),
        "variable_type": "BINARY",
        "offset": q.offset,
        "info": {},
        "linear_biases": q.linear.tolist(),
        "quadratic_biases": q.values.tolist(),
        "quadratic_head": q.rows.tolist(),
        "quadratic_tail": q.cols.tolist(),
    }


def export_bqm_json(q: QUBO, path: str | os.PathLike) -> None:
    """Write dimod-loadable BQM JSON atomically."""
    from qbnn.io import atomic_output

    with atomic_output(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(bqm_serializable(q), f)


def export_coo(q: QUBO, path: str | os.PathLike) -> None:
    """Write ``# offset=...`` header then ``i j value`` lines (``i == j``: linear term; ``i < j``: quadratic)."""
    from qbnn.io import atomic_output

    nz = np.flatnonzero(q.linear)
    rows = np.concatenate([nz, q.rows])
    cols = np.concatenate([nz, q.cols])
    vals = np.concatenate([q.linear[nz], q.values])
    with atomic_output(path) as tmp:
        with open(tmp, "w") as f:
            f.write(f"# qbnn QUBO (binary x): E = offset + sum value*x_i*x_j over lines; i==j lines are linear terms\n")
            f.write(f"# num_variables={q.num_variables}\n# offset={q.offset!r}\n")
            np.savetxt(f, np.column_stack([rows, cols, vals]), fmt=["%d", "%d", "%.17g"], delimiter=" ")
