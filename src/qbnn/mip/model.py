"""Exact MILP for training layered step-activation networks (Kurtz & Bah, arXiv 2110.11382).

Layer widths ``layers = [d, h1, ..., hL, C]``.  Hidden neurons use the step activation
``u = 1 if a >= 0 else 0``; the MILP enforces a margin: ``u=1 => a >= eps``, ``u=0 => a <= -eps``
(big-M from data l1 norms and the weight/bias bounds).  Products ``W * u`` of a weight in
[-1, 1] and a previous-layer bit are linearised exactly (McCormick).  Output layer:
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
import scipy.sparse as sp

from qbnn.errors import QbnnError


# ---------------------------------------------------------------- forward pass
def forward(weights, biases, X):
    """Return (list of hidden 0/1 activations, output pre-activations)."""
    h = np.asarray(X, dtype=float)
    acts = []
    for k, (W, b) in enumerate(zip(weights, biases)):
        a = h @ W.T + b
        if k == len(weights) - 1:
            return acts, a
        h = (a >= 0).astype(float)
        acts.append(h)
    raise AssertionError


def predict(weights, biases, X):
    _, a = forward(weights, biases, X)
    if a.shape[1] == 1:
        return np.where(a[:, 0] >= 0, 1, -1)
    return np.argmax(a, axis=1)


def targets(y, n_out):
    y = np.asarray(y).astype(int)
    if n_out == 1:
        if not np.all(np.isin(y, (-1, 1))):
            raise QbnnError("binary labels must be ±1")
        return y.reshape(-1, 1).astype(float)
    if y.min() < 0 or y.max() >= n_out:
        raise QbnnError(f"class labels must lie in 0..{n_out - 1}")
    T = -np.ones((len(y), n_out))
    T[np.arange(len(y)), y] = 1
    return T


def loss(weights, biases, X, y):
    """Number of violated output targets (misclassifications for binary, Hamming otherwise)."""
    _, a = forward(weights, biases, X)
    T = targets(y, a.shape[1])
    return int(np.sum(np.where(a >= 0, 1, -1) != T))


def random_weights(layers, seed=0, bias=True, integer=False):
    rng = np.random.default_rng(seed)
    Ws, bs = [], []
    for k in range(1, len(layers)):
        if integer:
            W = rng.integers(-1, 2, size=(layers[k], layers[k - 1])).astype(float)
        else:
            W = rng.uniform(-1, 1, size=(layers[k], layers[k - 1]))
        Ws.append(W)
        bs.append(rng.uniform(-0.5, 0.5, size=layers[k]) if bias else np.zeros(layers[k]))
    return Ws, bs


# ---------------------------------------------------------------- model builder
@dataclass
class MIPResult:
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


class _Builder:
    def __init__(self):
        self.lb, self.ub, self.cost, self.integ = [], [], [], []
        self.n = 0
        self.blocks = []  # (rows, cols, vals, lo, hi) with local row ids
        self.m = 0

    def vars(self, shape, lb, ub, integer=False, cost=0.0):
        size = int(np.prod(shape))
        idx = np.arange(self.n, self.n + size).reshape(shape)
        self.n += size
        self.lb.append(np.broadcast_to(np.asarray(lb, float), (size,)).ravel() if np.ndim(lb) == 0 else np.asarray(lb, float).ravel())
        self.ub.append(np.broadcast_to(np.asarray(ub, float), (size,)).ravel() if np.ndim(ub) == 0 else np.asarray(ub, float).ravel())
        self.cost.append(np.full(size, float(cost)))
        self.integ.append(np.full(size, bool(integer)))
        return idx

    def rows(self, cols, vals, lo, hi):
        """Add rows: ``cols``/``vals`` shape (R, K) (row r has K terms); lo/hi broadcast to (R,)."""
        cols = np.asarray(cols)
        vals = np.broadcast_to(np.asarray(vals, float), cols.shape)
        R = cols.shape[0]
        r = np.repeat(np.arange(self.m, self.m + R), cols.shape[1])
        self.blocks.append((r, cols.ravel(), vals.ravel(),
                            np.broadcast_to(np.asarray(lo, float), (R,)).copy(),
                            np.broadcast_to(np.asarray(hi, float), (R,)).copy()))
        self.m += R

    def highs(self):
        lp = highspy.HighsLp()
        lp.num_col_ = self.n
        lp.num_row_ = self.m
        lp.col_cost_ = np.concatenate(self.cost)
        lp.col_lower_ = np.concatenate(self.lb)
        lp.col_upper_ = np.concatenate(self.ub)
        r = np.concatenate([b[0] for b in self.blocks])
        c = np.concatenate([b[1] for b in self.blocks])
        v = np.concatenate([b[2] for b in self.blocks])
        lp.row_lower_ = np.concatenate([b[3] for b in self.blocks])
        lp.row_upper_ = np.concatenate([b[4] for b in self.blocks])
        A = sp.csc_matrix((v, (r, c)), shape=(self.m, self.n))
        A.sum_duplicates()
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = A.indptr.astype(np.int32)
        lp.a_matrix_.index_ = A.indices.astype(np.int32)
        lp.a_matrix_.value_ = A.data
        integ = np.concatenate(self.integ)
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous for i in integ]
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.passModel(lp)
        return h


def solve_mip(X, y, layers, *, integer=False, bias=True, bias_bound=1.0, eps=1e-3,
              time_limit=60.0, mip_gap=1e-4, seed=0, groups=None, rho=0.0,
              fix_weights=None, fix_activations=None, warm=None, threads=1) -> MIPResult:
    """Build and solve the training MILP.

    fix_weights: dict layer index -> (W, b) fixed to the given values.
    fix_activations: list (per hidden layer) of 0/1 arrays (n_units_or_groups, width) to fix.
    warm: (weights, biases) used as a (partial) starting solution.
    """
    t0 = time.perf_counter()
    X = np.asarray(X, float)
    S, d = X.shape
    layers = list(layers)
    if layers[0] != d:
        raise QbnnError(f"network input width {layers[0]} != data width {d}")
    L = len(layers) - 2
    T = targets(y, layers[-1])
    if groups is None:
        gid = np.arange(S)
    else:
        _, gid = np.unique(np.asarray(groups), return_inverse=True)
    G = int(gid.max()) + 1
    B = float(bias_bound) if bias else 0.0
    bld = _Builder()
    Wv, bv, uv = [], [], []
    for k in range(1, len(layers)):
        Wv.append(bld.vars((layers[k], layers[k - 1]), -1, 1, integer=integer))
        bv.append(bld.vars((layers[k],), -B, B))
    fix_weights = fix_weights or {}
    for k, (W, b) in fix_weights.items():
        for idx, val in ((Wv[k], W), (bv[k], b)):
            _set_bounds(bld, idx.ravel(), np.asarray(val, float).ravel())
    for k in range(L):
        uv.append(bld.vars((G, layers[k + 1]), 0, 1, integer=True))
        if fix_activations is not None and fix_activations[k] is not None:
            _set_bounds(bld, uv[k].ravel(), np.asarray(fix_activations[k], float).ravel())
    C = layers[-1]
    ev = bld.vars((S, C), 0, 1, integer=True, cost=1.0)

    xnorm = np.abs(X).sum(axis=1)
    for k in range(1, len(layers)):
        h, p = layers[k], layers[k - 1]
        W = Wv[k - 1]
        if k == 1:
            # pre-activation of sample s, neuron j: sum_i X[s,i] W[j,i] + b_j
            cols = np.concatenate([np.broadcast_to(W[None], (S, h, p)), np.broadcast_to(bv[0][None, :, None], (S, h, 1))], axis=2)
            vals = np.concatenate([np.broadcast_to(X[:, None, :], (S, h, p)), np.ones((S, h, 1))], axis=2)
            M = xnorm + B + eps
            rows_unit = np.arange(S)
            if rho > 0 and k <= L:
                v = bld.vars((h, p), 0, 1)
                # v >= |W|
                bld.rows(np.stack([v.ravel(), W.ravel()], 1), np.array([1.0, -1.0]), 0, np.inf)
                bld.rows(np.stack([v.ravel(), W.ravel()], 1), np.array([1.0, 1.0]), 0, np.inf)
                M = M + rho * p
        else:
            # McCormick z[g, j, i] = W[j, i] * u_prev[g, i]
            up = uv[k - 2]
            Gz = G
            z = bld.vars((Gz, h, p), -1, 1)
            Wb = np.broadcast_to(W[None], (Gz, h, p)).ravel()
            ub_ = np.broadcast_to(up[:, None, :], (Gz, h, p)).ravel()
            zz = z.ravel()
            cols3 = np.stack([zz, ub_], 1)
            bld.rows(cols3, np.array([1.0, -1.0]), -np.inf, 0)  # z <= u
            bld.rows(cols3, np.array([1.0, 1.0]), 0, np.inf)  # z >= -u
            cols3 = np.stack([zz, Wb, ub_], 1)
            bld.rows(cols3, np.array([1.0, -1.0, 1.0]), -np.inf, 1)  # z <= W + 1 - u
            bld.rows(cols3, np.array([1.0, -1.0, -1.0]), -1, np.inf)  # z >= W - 1 + u
            # pre-activation of sample s: uses its group's z
            cols = np.concatenate([z[gid], np.broadcast_to(bv[k - 1][None, :, None], (S, h, 1))], axis=2)
            vals = np.ones(cols.shape)
            M = np.full(S, p + B + eps)
        K = cols.shape[2]
        if k <= L:  # hidden: a - M u in [eps - M, inf] and [-inf, -eps]
            u = uv[k - 1][gid]  # (S, h)
            Mb = np.broadcast_to(M[:, None], (S, h))
            extra_c = [u[:, :, None]]
            extra_v = [-Mb[:, :, None]]
            c1 = np.concatenate([cols] + extra_c, axis=2)
            v1 = np.concatenate([vals] + extra_v, axis=2)
            if k == 1 and rho > 0:
                vcols = np.broadcast_to(v[None], (S, h, p))
                c_lo = np.concatenate([c1, vcols], axis=2)
                v_lo = np.concatenate([v1, np.full((S, h, p), -rho)], axis=2)
                c_hi = np.concatenate([c1, vcols], axis=2)
                v_hi = np.concatenate([v1, np.full((S, h, p), rho)], axis=2)
            else:
                c_lo, v_lo, c_hi, v_hi = c1, v1, c1, v1
            bld.rows(c_lo.reshape(S * h, -1), v_lo.reshape(S * h, -1), (eps - Mb).ravel(), np.inf)
            bld.rows(c_hi.reshape(S * h, -1), v_hi.reshape(S * h, -1), -np.inf, -eps)
        else:  # output: t=+1: a + M e >= eps ; t=-1: a - M e <= -eps
            Mb = np.broadcast_to(M[:, None], (S, h))
            c1 = np.concatenate([cols, ev[:, :, None]], axis=2).reshape(S * h, -1)
            v1 = np.concatenate([vals, (T * Mb)[:, :, None]], axis=2).reshape(S * h, -1)
            pos = T.ravel() > 0
            lo = np.where(pos, eps, -np.inf)
            hi = np.where(pos, np.inf, -eps)
            bld.rows(c1, v1, lo, hi)
    h = bld.highs()
    h.setOptionValue("time_limit", float(max(time_limit, 0.01)))
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    h.setOptionValue("random_seed", int(seed))
    h.setOptionValue("threads", int(threads))
    if warm is not None:
        _warm_start(h, Wv, bv, warm)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    has = int(info.primal_solution_status) == 2
    sol = np.asarray(h.getSolution().col_value)
    seconds = time.perf_counter() - t0
    if not has or len(sol) != bld.n:
        # no incumbent within the limit: fall back to the warm start (or a trivial network)
        if warm is not None:
            Ws, bs = [np.array(w, float) for w in warm[0]], [np.array(b, float) for b in warm[1]]
        else:
            Ws = [np.zeros((layers[k], layers[k - 1])) for k in range(1, len(layers))]
            bs = [np.full(layers[k], -B) for k in range(1, len(layers))]
        obj = float(loss(Ws, bs, X, y))
        bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else 0.0
        gap = (obj - bound) / obj if obj > 0 else 0.0
        return MIPResult(Ws, bs, obj, bound, gap, status, seconds, bld.n, bld.m, False)
    Ws = [np.clip(sol[w], -1, 1) for w in Wv]
    bs = [sol[b] for b in bv]
    if integer:
        Ws = [np.round(w) for w in Ws]
    acts = [np.round(sol[u]) for u in uv]
    obj = float(info.objective_function_value)
    bound = float(info.mip_dual_bound)
    gap = float(info.mip_gap) if np.isfinite(info.mip_gap) else 1.0
    if status == "Optimal":
        gap = min(gap, mip_gap)
    return MIPResult(Ws, bs, obj, bound, gap, status, seconds, bld.n, bld.m, True, acts)


def _set_bounds(bld, idx, val):
    # locate the var block holding idx (vars are allocated contiguously per block)
    lb = np.concatenate(bld.lb); ub = np.concatenate(bld.ub)
    lb[idx] = val; ub[idx] = val
    sizes = [len(a) for a in bld.lb]
    splits = np.cumsum(sizes)[:-1]
    bld.lb = list(np.split(lb, splits)); bld.ub = list(np.split(ub, splits))


def _warm_start(h, Wv, bv, warm):
    idx = np.concatenate([w.ravel() for w in Wv] + [b.ravel() for b in bv]).astype(np.int32)
    val = np.concatenate([np.asarray(w, float).ravel() for w in warm[0]] + [np.asarray(b, float).ravel() for b in warm[1]])
    try:
        h.setSolution(len(idx), idx, val)
    except Exception:  # pragma: no cover - older highspy without sparse setSolution
        pass
