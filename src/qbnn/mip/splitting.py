"""Iterative data splitting: points in one group share their hidden activation pattern.

Start with one group (``init="one"``) or one group per class (``init="class"``); repeatedly
split the group with the largest loss in two with ``KMeans(k=2, random_state=seed)``,
re-solve the grouped MILP warm-started from the last weights (a complete feasible start:
the children inherit their parent's pattern, so the training loss never increases), and
keep the network with the best validation accuracy.  The grouped MILP has one activation
bit per (group, neuron) and, as a group shares its output, one error bit per (group,
output, target sign) -- far fewer binaries than the exact model's per-sample bits.

Groups always hold whole distinct inputs (copies of one input share their activations in
any network); the class init groups each distinct input by its majority label.  A copy
with the minority label is an error whatever the weights ("irreducible" loss); splitting
stops when only that is left, and picks the group with the most loss above it.

With ``init="class"`` and one output, the first grouped model (two majority-label groups)
reaches the irreducible loss exactly when one hidden unit separates the distinct inputs by
majority label with margin ``eps`` (the groups' patterns must differ in some unit, and
weights/bias ranges are symmetric), so that first step is solved as a linear program: the
max-margin separator within the weight bounds, the remaining units switched off.  Only when that margin is below ``eps``
does the loop fall back to the grouped MILP.  (A 0.03-0.2 s HiGHS branch-and-bound run
becomes a ~5 ms LP; the max-margin choice is also a better-founded pick among the many
zero-loss networks than the MILP's arbitrary vertex.)
"""
from __future__ import annotations

import time

import numpy as np
from sklearn.cluster import KMeans

from qbnn.errors import QbnnError
from qbnn.mip.builder import Builder
from qbnn.mip.layers import predict, sample_errors, targets
from qbnn.mip.model import bias_bounds, distinct_rows, irreducible_loss, solve_mip, target_counts


def _accuracy(Ws, bs, X, y):
    return float(np.mean(predict(Ws, bs, X) == np.asarray(y)))


def _trivial_start(layers, y, Bs):
    """A network feasible for every grouping: hidden units off (a = -B_k), constant output
    (the majority class for one output), so the first grouped solve cannot come back empty."""
    Ws = [np.zeros((layers[k], layers[k - 1])) for k in range(1, len(layers))]
    bs = [np.full(layers[k], -float(Bs[k - 1])) for k in range(1, len(layers))]
    if layers[-1] == 1:
        bs[-1][:] = float(Bs[-1]) if np.mean(np.asarray(y) == 1) >= 0.5 else -float(Bs[-1])
    return Ws, bs


def _separating_network(X, y, layers, Bs, eps, rho):
    """Max-margin LP for the class-pure first split (one output, biases, continuous weights).

    Returns (weights, biases, margin, lp_info) with unit 0 of each hidden layer carrying the
    class (layer 1: separator ``a = X w + b`` with ``y a - rho |w|_1 >= margin``; deeper
    layers copy it), other units off (``a = -B_k``), output ``u0 - 0.5``; or None when
    the LP fails.  ``margin < eps`` means the classes are not separable at the MILP's margin.
    """
    S, d = X.shape
    bld = Builder()
    w = bld.vars((d,), -1, 1)
    b = bld.vars((1,), -Bs[0], Bs[0])
    t = bld.vars((1,), -np.inf, np.inf, cost=-1.0)  # maximise the smallest (robust) margin
    cols = np.concatenate([np.broadcast_to(w, (S, d)), np.broadcast_to(b, (S, 1)),
                           np.broadcast_to(t, (S, 1))], axis=1)
    vals = np.concatenate([y[:, None] * X, y[:, None], -np.ones((S, 1))], axis=1)
    if rho > 0:  # worst case over the l_inf ball: y a - rho * sum(v) with v >= |w|
        v = bld.vars((d,), 0, 1)
        bld.rows(np.stack([v, w], 1), np.array([1.0, -1.0]), 0, np.inf)
        bld.rows(np.stack([v, w], 1), np.array([1.0, 1.0]), 0, np.inf)
        cols = np.concatenate([cols, np.broadcast_to(v, (S, d))], axis=1)
        vals = np.concatenate([vals, np.full((S, d), -rho)], axis=1)
    bld.rows(cols, vals, 0, np.inf)
    h = bld.highs()
    h.run()
    if h.modelStatusToString(h.getModelStatus()) != "Optimal":
        return None
    sol = np.asarray(h.getSolution().col_value)
    Ws = [np.zeros((layers[k], layers[k - 1])) for k in range(1, len(layers))]
    bs = [np.full(layers[k], -float(Bs[k - 1])) for k in range(1, len(layers))]
    Ws[0][0], bs[0][0] = np.clip(sol[w], -1, 1), sol[b[0]]
    for k in range(1, len(Ws)):  # copy unit 0 forward: u0 - 0.5 is +-0.5 (>= eps in magnitude)
        Ws[k][0, 0], bs[k][0] = 1.0, -0.5
    info = {"n_vars": bld.n, "n_cons": bld.m, "n_binaries": 0}
    return Ws, bs, float(sol[t[0]]), info


def split_train(X, y, layers, *, max_splits=8, seed=0, time_limit=60.0, X_val=None, y_val=None,
                integer=False, bias=True, bias_bound=None, eps=1e-3, rho=0.0, mip_gap=1e-4,
                init="class", solve_limit=None, threads=1, weight_bound=1.0, reg_weight=0.0,
                kmeans_init=3, batch_size=None):
    """Return dict: weights, biases, groups (final partition), history (per split), best_val, seconds.

    X: (S, d) float; y: (S,) labels.  init: "class" (one group per class, groups stay
    label-pure) or "one" (a single group).  solve_limit: seconds per grouped solve (default:
    half the remaining time); a solve stopped by it returns at least the warm start.
    kmeans_init: k-means initialisations per split (the paper: 25).  batch_size: each grouped
    MILP is solved on a fresh seeded random batch of that many training points (the paper:
    64), not on all of them; the training loss of the whole set may then rise between
    splits, and the best-validation network is kept.
    """
    t0 = time.perf_counter()
    X = np.asarray(X, float)
    y = np.asarray(y)
    if X_val is None:
        X_val, y_val = X, y
    # one set of bias bounds for every solve (a batch's own bounds could exclude the warm start)
    Bs = bias_bounds(layers, X, bias_bound, weight_bound, eps, rho, bias)
    rng = np.random.default_rng([int(seed), 0x5B1])
    dist, first = distinct_rows(X)
    if init == "class":
        # by the majority label of each distinct input: copies of one input share their
        # activations anyway, so splitting them over two groups would tie those groups'
        # patterns (binarised 4x4 digits: 100 samples, 17 distinct inputs, constant predictor)
        lab = np.unique(y, return_inverse=True)[1].ravel()
        cnt = np.zeros((len(first), lab.max() + 1))
        np.add.at(cnt, (dist, lab), 1)
        groups = np.argmax(cnt, axis=1)[dist].astype(int)
    elif init == "one":
        groups = np.zeros(len(X), dtype=int)
    else:
        raise QbnnError(f"split init must be 'class' or 'one', not {init!r}")
    floor = irreducible_loss(X, y, layers[-1])  # per sample; its sum bounds any network's loss
    history = []
    best = None
    warm = _trivial_start(layers, y, Bs) if bias else None
    lp = None
    if (init == "class" and layers[-1] == 1 and len(layers) > 2 and bias and not integer
            and weight_bound >= 1 and reg_weight == 0
            and min(Bs[1:]) >= 0.5 + eps):  # copies/output use bias -0.5, idle units -B_k
        ts = time.perf_counter()
        # majority label per distinct input; ties cost the same either way and are left out
        npos, nneg = target_counts(dist, targets(y, 1), len(first))
        t = (npos - nneg)[:, 0]
        keep = t != 0
        lp = _separating_network(X[first][keep], np.sign(t[keep]), layers, Bs, eps, rho) \
            if keep.any() else None
        if lp is not None and lp[2] < eps:
            lp = None  # not separable at the margin: the grouped MILP decides the first step
    for it in range(max_splits + 1):
        left = time_limit - (time.perf_counter() - t0)
        if left <= 0.05:
            break
        if it == 0 and lp is not None:
            Ws, bs, margin, info = lp
            res_info = {**info, "seconds": time.perf_counter() - ts, "build_seconds": 0.0,
                        "status": "Optimal (separating LP)", "objective": float(floor.sum()), "gap": 0.0, "margin": margin}
        else:
            limit = 0.5 * left if solve_limit is None else min(solve_limit, left)
            batch = (np.sort(rng.choice(len(X), batch_size, replace=False))
                     if batch_size is not None and batch_size < len(X) else slice(None))
            res = solve_mip(X[batch], y[batch], layers, groups=groups[batch], warm=warm,
                            time_limit=max(limit, 0.05), integer=integer, bias=bias, bias_bound=Bs, eps=eps,
                            rho=rho, seed=seed, mip_gap=mip_gap, threads=threads, weight_bound=weight_bound,
                            reg_weight=reg_weight)
            if not res.has_solution and warm is None:
                break  # (with a warm start -- always, with biases -- the last weights come back)
            Ws, bs = res.weights, res.biases
            res_info = {"n_vars": res.n_vars, "n_cons": res.n_cons, "n_binaries": res.n_binaries,
                        "seconds": res.seconds, "build_seconds": res.build_seconds, "status": res.status,
                        "objective": res.objective, "gap": res.gap}
        warm = (Ws, bs)
        val = _accuracy(Ws, bs, X_val, y_val)
        err = sample_errors(Ws, bs, X, y)
        history.append({"split": it, "n_groups": int(groups.max() + 1), **res_info,
                        "train_loss": int(err.sum()), "val_accuracy": val})
        if best is None or val > best[0]:
            best = (val, Ws, bs, groups.copy())
        if err.sum() <= floor.sum() + 1e-9 or it == max_splits:  # nothing left to gain
            break
        # split the group with the largest loss (needs >= 2 distinct points)
        gl = np.bincount(groups, weights=err - floor, minlength=groups.max() + 1)
        order = np.argsort(-gl, kind="stable")
        done = False
        for g in order:
            if gl[g] <= 1e-9:
                break
            members = np.flatnonzero(groups == g)
            ud, cnt_ud = np.unique(dist[members], return_counts=True)  # whole inputs move together
            if len(ud) < 2:
                continue
            side = KMeans(n_clusters=2, random_state=seed, n_init=kmeans_init).fit_predict(X[first[ud]],
                                                                                 sample_weight=cnt_ud)
            if side.min() == side.max():
                continue
            groups[np.isin(dist, ud[side == 1])] = groups.max() + 1
            done = True
            break
        if not done:
            break
    if best is None:
        raise RuntimeError("splitting produced no solution")
    return {"weights": best[1], "biases": best[2], "groups": best[3], "final_groups": groups,
            "history": history, "best_val": best[0], "seconds": time.perf_counter() - t0}
