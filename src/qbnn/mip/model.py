"""Exact MILP for training layered step-activation networks (Kurtz & Bah, arXiv 2110.11382).

Layer widths ``layers = [d, h1, ..., hL, C]``.  Hidden neurons use the step activation
``u = 1 if a >= 0 else 0``; the MILP enforces a margin: ``u=1 => a >= eps``, ``u=0 => a <= -eps``
(big-M from data l1 norms and the weight/bias bounds).  Weights lie in [-P, P] (real, or
integers with ``integer=True``; P = ``weight_bound``, default 1); products ``W * u`` of a
weight and a previous-layer bit are linearised exactly (McCormick).  Biases lie in [-B, B];
the default B (``bias_bound=None``) is per layer just large enough to be no restriction on
the training data (see :func:`bias_bounds`).  ``reg_weight`` adds ``reg_weight * sum W**2``
to the loss (exact for integer weights, a tangent envelope for real ones).  Output layer:
one neuron (binary, ±1 labels, prediction ``sign``), else C neurons with Hamming loss to
±1 one-hot targets (prediction ``argmax``).  Loss = number of violated output targets.

Optional ``groups`` (one id per sample) share the hidden activation bits inside a group
(the data-splitting model); optional ``rho`` makes first-layer activations robust to
l_inf perturbations of radius rho (auxiliary ``v >= |W|`` variables).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import highspy
import numpy as np

from qbnn.errors import QbnnError
from qbnn.mip.builder import Builder, read_solution_file
from qbnn.mip.builder import write_model as write_highs_model
from qbnn.mip.layers import forward, loss, targets


def distinct_rows(X):
    """(S,) id of each row's distinct value (0..U-1, in order of first occurrence) and the
    (U,) index of each distinct row's first occurrence."""
    _, first, inv = np.unique(np.asarray(X), axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # renumber by first occurrence (deterministic)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[inv.ravel()], first[order]


def target_counts(gid, T, G):
    """(G, C) counts of +1 and of -1 targets per unit ``gid`` (0..G-1) and output."""
    npos, nneg = np.zeros((G, T.shape[1])), np.zeros((G, T.shape[1]))
    np.add.at(npos, gid, T > 0)
    np.add.at(nneg, gid, T < 0)
    return npos, nneg


def irreducible_loss(X, y, n_out):
    """(S,) share of each sample in the loss no network can avoid: identical inputs get the
    same outputs, so per distinct input and output the minority target count is lost
    (spread evenly over the copies).  Its sum is a lower bound on ``loss``."""
    gid, first = distinct_rows(X)
    npos, nneg = target_counts(gid, targets(y, n_out), len(first))
    return (np.minimum(npos, nneg).sum(axis=1) / np.bincount(gid, minlength=len(first)))[gid]


def bias_bounds(layers, X, bias_bound=None, weight_bound=1.0, eps=1e-3, rho=0.0, bias=True):
    """Per-layer bias bounds (list of floats, one per weight layer).

    ``bias_bound`` a number: that bound everywhere.  ``None`` (the paper's setting, no
    restriction): ``P * max ||x||_1 + rho * P * d + eps`` for the first layer and
    ``P * h_{k-1} + eps`` for deeper ones -- any larger |b| gives a neuron with the same
    (constant) sign on every training point as this bound does, so the bound changes no
    attainable training loss.  Without biases: zeros.
    """
    n = len(layers) - 1
    if not bias:
        return [0.0] * n
    if isinstance(bias_bound, (list, tuple, np.ndarray)):
        if len(bias_bound) != n:
            raise QbnnError(f"bias_bound: {len(bias_bound)} bounds for {n} weight layers")
        return [float(b) for b in bias_bound]
    if bias_bound is not None:
        return [float(bias_bound)] * n
    P = float(weight_bound)
    x1 = float(np.abs(np.asarray(X, float)).sum(axis=1).max()) if len(X) else 0.0
    return [P * x1 + rho * P * layers[0] + eps] + [P * layers[k - 1] + eps for k in range(2, n + 1)]


def weight_penalty_cuts(weight_bound, integer):
    """Linear cuts ``s >= a |w| - c`` (as (a, c) arrays) whose maximum is ``w**2``: exact at the
    integers of [-P, P] for integer weights (chords of consecutive integers), and the tangent
    envelope at 9 points of [0, P] for real weights (below ``w**2`` by at most (P/16)**2)."""
    P = float(weight_bound)
    if integer:
        k = np.arange(int(P))
        return 2 * k + 1.0, k * (k + 1.0)
    t = np.linspace(0, P, 9)
    return 2 * t, t ** 2


# ---------------------------------------------------------------- model
@dataclass
class MIPResult:
    """weights/biases: per layer, float arrays (h_k, h_{k-1}) / (h_k,); objective: MILP loss
    (margin model); train_loss: forward-pass loss of the returned network (<= objective up to
    solver tolerances); bound: proven lower bound; gap: (objective - bound) / objective."""
    weights: list
    biases: list
    objective: float
    bound: float
    gap: float
    status: str
    seconds: float
    n_vars: int
    n_cons: int
    has_solution: bool
    activations: list = field(default_factory=list)
    n_binaries: int = 0
    train_loss: float = float("nan")
    build_seconds: float = 0.0
    bias_bounds: list = field(default_factory=list)


def solve_mip(X, y, layers, *, integer=False, bias=True, bias_bound=None, eps=1e-3,
              time_limit=60.0, mip_gap=1e-4, seed=0, groups=None, rho=0.0, weight_bound=1.0,
              reg_weight=0.0, fix_weights=None, fix_activations=None, warm=None, threads=1,
              write_model=None, read_solution=None) -> MIPResult:
    """Build and solve the training MILP.

    X: (S, d) float; y: (S,) ±1 (one output) or class index (C outputs).
    weight_bound: P, weights in [-P, P] (integers with ``integer``).  bias_bound: a number,
        a list per layer, or None (no restriction, :func:`bias_bounds`).  reg_weight: weight
        of the ``sum W**2`` term added to the loss (the objective then includes it).
    groups: (S,) ids; points of a group share their hidden activation bits, so (with >= 1
        hidden layer) the group shares its output and its errors are aggregated: per (group,
        output) one error bit per target sign, weighted by the number of such points.
        Default: one group per distinct input row -- identical inputs have identical
        activations in any network, so this is exact, not a restriction (binarised images
        repeat a lot: 100 digits at 4x4 have 17 distinct rows).  First-layer rows are
        emitted once per distinct (group, input).
    fix_weights: dict layer index -> (W, b) fixed to the given values.
    fix_activations: list (per hidden layer) of 0/1 arrays to fix: (S, width) per sample
        when ``groups`` is None (rows of identical inputs must agree), else (n_groups, width).
    warm: (weights, biases): a complete start (activations/products/errors derived from it)
        handed to HiGHS, so a time limit returns at least this network.
    write_model: also write the MILP to this .mps / .lp file (for Gurobi, CPLEX, SCIP).
    read_solution: instead of solving, read an outside solver's solution file of the model that
        ``write_model`` writes for the same arguments (:func:`qbnn.mip.builder.read_solution_file`);
        the network is its weight and bias columns, the objective is recomputed by the forward pass.
    """
    t0 = time.perf_counter()
    X = np.asarray(X, float)
    S, d = X.shape
    layers = list(layers)
    if layers[0] != d:
        raise QbnnError(f"network input width {layers[0]} != data width {d}")
    L = len(layers) - 2
    C = layers[-1]
    T = targets(y, C)
    # rep: the first sample of each distinct (group, input) -- one first-layer row block each,
    # as duplicates would add identical rows
    if L == 0:
        gid = rep = np.arange(S)
    elif groups is None:
        gid, rep = distinct_rows(X)
        if fix_activations is not None:  # per sample -> per distinct input
            fix_activations = [None if a is None else np.asarray(a)[rep] for a in fix_activations]
    else:
        gid = np.unique(np.asarray(groups), return_inverse=True)[1]
        rep = np.sort(np.unique(np.column_stack([gid, X]), axis=0, return_index=True)[1])
    G = int(gid.max()) + 1
    Xr, R = X[rep], len(rep)
    P = float(weight_bound)
    if not P > 0 or (integer and P != int(P)):
        raise QbnnError(f"weight bound must be positive{' and whole for integer weights' if integer else ''}, got {weight_bound}")
    Bs = bias_bounds(layers, X, bias_bound, P, eps, rho, bias)
    bld = Builder()
    Wv, bv, uv, zv, vv = [], [], [], {}, None
    for k in range(1, len(layers)):
        Wv.append(bld.vars((layers[k], layers[k - 1]), -P, P, integer=integer))
        bv.append(bld.vars((layers[k],), -Bs[k - 1], Bs[k - 1]))
    sreg = []
    if reg_weight > 0:  # s >= w**2 through linear cuts; minimising pulls s down onto the envelope
        ca, cc = weight_penalty_cuts(P, integer)
        for W in Wv:
            sv = bld.vars(W.shape, 0, P * P, cost=float(reg_weight))
            sreg.append(sv)
            nc = len(ca)
            cols = np.stack([np.repeat(sv.ravel(), nc), np.repeat(W.ravel(), nc)], 1)
            a_rep = np.tile(ca, W.size)
            bld.rows(cols, np.stack([np.ones_like(a_rep), -a_rep], 1), np.tile(-cc, W.size), np.inf)
            bld.rows(cols, np.stack([np.ones_like(a_rep), a_rep], 1), np.tile(-cc, W.size), np.inf)
    for k in range(L):
        uv.append(bld.vars((G, layers[k + 1]), 0, 1, integer=True))
    # output units: groups (they share the last hidden pattern) or samples (no hidden layer)
    npos, nneg = target_counts(gid, T, G)
    pos_gc, neg_gc = np.nonzero(npos), np.nonzero(nneg)
    ep = bld.vars((len(pos_gc[0]),), 0, 1, integer=True, cost=npos[pos_gc])
    en = bld.vars((len(neg_gc[0]),), 0, 1, integer=True, cost=nneg[neg_gc])

    xnorm = np.abs(Xr).sum(axis=1)
    zero_rows = np.zeros(0, dtype=np.int64)
    for k in range(1, len(layers)):
        h, p = layers[k], layers[k - 1]
        W = Wv[k - 1]
        if k == 1:
            # pre-activation of sample s, neuron j: sum_i X[s,i] W[j,i] + b_j  -> (S, h, p+1)
            cols = np.concatenate([np.broadcast_to(W[None], (R, h, p)),
                                   np.broadcast_to(bv[0][None, :, None], (R, h, 1))], axis=2)
            vals = np.concatenate([np.broadcast_to(Xr[:, None, :], (R, h, p)), np.ones((R, h, 1))], axis=2)
            M = P * xnorm + Bs[0] + eps
            unit = gid[rep]  # a distinct input uses the bits of its group
            n_unit = R
        else:
            # McCormick z[g, j, i] = W[j, i] * u_prev[g, i]; pre-activation per group
            up = uv[k - 2]
            z = bld.vars((G, h, p), -P, P)
            zv[k] = z
            Wb = np.broadcast_to(W[None], (G, h, p)).ravel()
            ub_ = np.broadcast_to(up[:, None, :], (G, h, p)).ravel()
            zz = z.ravel()
            c2 = np.stack([zz, ub_], 1)
            bld.rows(c2, np.array([1.0, -P]), -np.inf, 0)  # z <= P u
            bld.rows(c2, np.array([1.0, P]), 0, np.inf)  # z >= -P u
            c3 = np.stack([zz, Wb, ub_], 1)
            bld.rows(c3, np.array([1.0, -1.0, P]), -np.inf, P)  # z <= W + P (1 - u)
            bld.rows(c3, np.array([1.0, -1.0, -P]), -P, np.inf)  # z >= W - P (1 - u)
            cols = np.concatenate([z, np.broadcast_to(bv[k - 1][None, :, None], (G, h, 1))], axis=2)
            vals = np.ones(cols.shape)
            M = np.full(G, P * p + Bs[k - 1] + eps)
            unit = np.arange(G)
            n_unit = G
        if k <= L:  # hidden: u=1 => a >= eps ; u=0 => a <= -eps
            u = uv[k - 1][unit]  # (n_unit, h)
            Mb = np.broadcast_to(M[:, None], (n_unit, h))
            c1 = np.concatenate([cols, u[:, :, None]], axis=2)
            v1 = np.concatenate([vals, -Mb[:, :, None]], axis=2)
            c_lo = c_hi = c1
            v_lo = v_hi = v1
            if k == 1 and rho > 0:  # robust: worst case over the l_inf ball, v >= |W|
                vv = bld.vars((h, p), 0, P)
                bld.rows(np.stack([vv.ravel(), W.ravel()], 1), np.array([1.0, -1.0]), 0, np.inf)
                bld.rows(np.stack([vv.ravel(), W.ravel()], 1), np.array([1.0, 1.0]), 0, np.inf)
                Mb = Mb + rho * P * p
                vcols = np.broadcast_to(vv[None], (n_unit, h, p))
                c_lo = c_hi = np.concatenate([cols, vcols, u[:, :, None]], axis=2)
                v_lo = np.concatenate([vals, np.full((n_unit, h, p), -rho), -Mb[:, :, None]], axis=2)
                v_hi = np.concatenate([vals, np.full((n_unit, h, p), rho), -Mb[:, :, None]], axis=2)
            lo_rows = bld.rows(c_lo.reshape(n_unit * h, -1), v_lo.reshape(n_unit * h, -1),
                               (eps - Mb).ravel(), np.inf)
            bld.rows(c_hi.reshape(n_unit * h, -1), v_hi.reshape(n_unit * h, -1), -np.inf, -eps)
            if k == 1 and not bias:
                # x = 0 without bias: a = 0 exactly, the step gives 1 and no margin is attainable
                zs = np.flatnonzero(xnorm == 0)
                if len(zs):
                    zg = np.unique(unit[zs])
                    bld.fix(uv[0][zg], np.ones((len(zg), h)))
                    zero_rows = lo_rows.reshape(R, h)[zs].ravel()
        else:  # output: t=+1: a + M e >= eps ; t=-1: a - M e <= -eps
            for (gi, ci), e, sgn in ((pos_gc, ep, 1.0), (neg_gc, en, -1.0)):
                if not len(e):
                    continue
                row = np.concatenate([cols[gi, ci], e[:, None]], axis=1)
                val = np.concatenate([vals[gi, ci], (sgn * M[gi])[:, None]], axis=1)
                bld.rows(row, val, eps if sgn > 0 else -np.inf, np.inf if sgn > 0 else -eps)
    if len(zero_rows):
        bld.relax_rows(zero_rows, lo=-np.inf)
    for k, (Wf, bf) in (fix_weights or {}).items():
        bld.fix(Wv[k], Wf)
        bld.fix(bv[k], bf)
    for k in range(L):
        if fix_activations is not None and fix_activations[k] is not None:
            bld.fix(uv[k], fix_activations[k])
    Mmax = P * (float(np.max(xnorm)) + rho * d + max(layers[1:-1] or [0])) + max(Bs) + eps
    h = bld.highs({"time_limit": float(max(time_limit, 0.01)), "mip_rel_gap": float(mip_gap),
                   "random_seed": int(seed), "threads": int(threads),
                   # an integrality slack delta on u moves a by M*delta: keep it below the margin
                   "mip_feasibility_tolerance": float(min(1e-6, 0.1 * eps / Mmax))})
    if warm is not None:
        _warm_start(h, bld.n, X, gid, G, layers, (Wv, bv, uv, zv, vv, ep, en, sreg), pos_gc, neg_gc, warm, eps)
    if write_model is not None:
        write_highs_model(h, write_model)
    build = time.perf_counter() - t0
    if read_solution is not None:
        return _from_solution_file(read_solution, bld, Wv, bv, P, Bs, integer, reg_weight, X, y, t0, build)
    if h.run() == highspy.HighsStatus.kError:
        raise QbnnError("HiGHS refused the training MILP (run with output_flag to see why)")
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    has = int(info.primal_solution_status) == 2
    sol = np.asarray(h.getSolution().col_value)
    seconds = time.perf_counter() - t0
    n_bin = int(sum(int(i.sum()) for i in bld.integ))
    common = dict(seconds=seconds, n_vars=bld.n, n_cons=bld.m, n_binaries=n_bin, build_seconds=build)
    common["bias_bounds"] = Bs
    if not has or len(sol) != bld.n:
        # no incumbent within the limit: fall back to the warm start (or a trivial network)
        if warm is not None:
            Ws, bs = [np.array(w, float) for w in warm[0]], [np.array(b, float) for b in warm[1]]
        else:
            Ws = [np.zeros((layers[k], layers[k - 1])) for k in range(1, len(layers))]
            bs = [np.full(layers[k], -Bs[k - 1]) for k in range(1, len(layers))]
        obj = float(loss(Ws, bs, X, y))
        bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else 0.0
        gap = (obj - bound) / obj if obj > 0 else 0.0
        return MIPResult(Ws, bs, obj, bound, gap, status, has_solution=False, train_loss=obj, **common)
    Ws = [np.clip(sol[w], -P, P) for w in Wv]
    bs = [sol[b] for b in bv]
    if integer:
        Ws = [np.round(w) for w in Ws]
    acts = [np.round(sol[u]) for u in uv]
    obj = float(info.objective_function_value)
    bound = float(info.mip_dual_bound)
    gap = float(info.mip_gap) if np.isfinite(info.mip_gap) else 1.0
    if status == "Optimal":
        gap = min(gap, mip_gap)
    return MIPResult(Ws, bs, obj, bound, gap, status, activations=acts, has_solution=True,
                     train_loss=float(loss(Ws, bs, X, y)), **common)


def _from_solution_file(path, bld, Wv, bv, P, Bs, integer, reg_weight, X, y, t0, build) -> MIPResult:
    """The network in an outside solver's solution of the model ``bld`` (weights clipped to [-P, P],
    rounded when integer; biases clipped to their bounds) with its loss by the forward pass."""
    x = read_solution_file(path, bld.n)
    Ws = [np.clip(x[w], -P, P) for w in Wv]
    if integer:
        Ws = [np.round(w) for w in Ws]
    bs = [np.clip(x[b], -B, B) for b, B in zip(bv, Bs)]
    errors = float(loss(Ws, bs, X, y))
    obj = errors + float(reg_weight) * float(sum((w ** 2).sum() for w in Ws))
    n_bin = int(sum(int(i.sum()) for i in bld.integ))
    return MIPResult(Ws, bs, obj, None, None, "solution file", time.perf_counter() - t0, bld.n, bld.m,
                     has_solution=True, n_binaries=n_bin, train_loss=errors, build_seconds=build, bias_bounds=Bs)


def _warm_start(h, n, X, gid, G, layers, handles, pos_gc, neg_gc, warm, eps):
    """Hand HiGHS a complete solution derived from ``warm`` weights (group bits by majority)."""
    Wv, bv, uv, zv, vv, ep, en, sreg = handles
    Ws = [np.asarray(w, float) for w in warm[0]]
    bs = [np.asarray(b, float) for b in warm[1]]
    val = np.zeros(n)
    for k in range(len(Ws)):
        val[Wv[k]] = Ws[k]
        val[bv[k]] = bs[k]
    L = len(layers) - 2
    cnt = np.bincount(gid, minlength=G)[:, None]
    if L == 0:
        a_out = X @ Ws[0].T + bs[0]
    else:
        acts, _ = forward(Ws, bs, X)
        ug = np.zeros((G, layers[1]))
        np.add.at(ug, gid, acts[0])
        ug = (ug >= 0.5 * cnt).astype(float)
        val[uv[0]] = ug
        for k in range(2, len(layers)):
            z = Ws[k - 1][None] * ug[:, None, :]
            val[zv[k]] = z
            a = z.sum(axis=2) + bs[k - 1]
            if k <= L:
                ug = (a >= 0).astype(float)
                val[uv[k - 1]] = ug
        a_out = a
    # a start from a MILP solution sits at |a| = eps up to rounding: within HiGHS' feasibility
    # tolerance, so not an error (a strict test here marked such points as errors)
    tol = 1e-9
    val[ep] = a_out[pos_gc] < eps - tol
    val[en] = a_out[neg_gc] > -eps + tol
    if vv is not None:
        val[vv] = np.abs(Ws[0])
    for s, W in zip(sreg, Ws):
        val[s] = W ** 2
    h.setSolution(n, np.arange(n, dtype=np.int32), val)
