"""Exact QUBO compiler for BNN training (formulation in ``docs/formulation.md``).

``compile_bnn(topology, X, y, margin, weight_penalties, penalty) -> CompiledBNN``; variable
layout in :mod:`qbnn.compiler.layout`, its memory estimate (:func:`compile_estimate`) beside it.
"""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from qbnn.compiler.compiled import CompiledBNN
from qbnn.compiler.layout import FORMULATION, FORMULATION_VERSION, neuron_layout, penalty_bound
from qbnn.errors import QbnnError
from qbnn.margins import MarginSpec
from qbnn.memory import check_fits
from qbnn.qubo import QUBO, VAR_KINDS
from qbnn.topology import Topology

_K = {k: i for i, k in enumerate(VAR_KINDS)}

# compile_bnn: per raw nonzero, rows+cols int64 + values float64 (24 B) live in the per-neuron
# lists, again after np.concatenate, and once more in the filtered copy / QUBO.save buffers.
COMPILE_BYTES_PER_NNZ = 3 * 24
# per variable: linear float64, five int32 varmap fields, their tiled templates
COMPILE_BYTES_PER_VAR = 8 + 2 * 5 * 4


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
    layout, stride = neuron_layout(topo)
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


# ---------------------------------------------------------------- memory estimate
def compile_estimate(topo, n_samples: int, margin: float = 0.0) -> dict:
    """Variables, raw nonzeros and peak bytes of :func:`compile_bnn` (from sizes only)."""
    layout, stride = neuron_layout(topo)
    S = int(n_samples)
    nnz = 0
    per_neuron_peak = 0
    for nl in layout:
        L, nb = len(nl.coefs), len(nl.nb_pos)
        m = 1 + L + 2 * nb
        cross = S * nl.n * m
        nnz += nl.n * (nl.n - 1) // 2 + cross
        nnz += S * (m * (m - 1) // 2 + nb + (L if margin else 0))  # per-sample template, tiled
        per_neuron_peak = max(per_neuron_peak, cross * 16)  # V (S, n, m) float64 + its int64 columns
    n = topo.n_weights + S * stride
    need = nnz * COMPILE_BYTES_PER_NNZ + n * COMPILE_BYTES_PER_VAR + per_neuron_peak
    return {"variables": int(n), "nonzeros": int(nnz), "bytes": int(need)}


def guard_compile(topo, n_samples: int, margin: float = 0.0) -> dict:
    """Refuse (QbnnError) a compile whose estimate exceeds the available memory."""
    est = compile_estimate(topo, n_samples, margin)
    check_fits(est["bytes"], f"compiling {n_samples} samples ({est['variables']:,} variables, "
                             f"{est['nonzeros']:,} nonzeros)")
    return est
