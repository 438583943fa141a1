"""Local-search heuristic: alternately fix the output layer and the hidden activation pattern.

Step A fixes the output layer's weights (hidden weights + activations remain a smaller MILP);
step B fixes the hidden activation pattern of the current network (the rest becomes a MILP
whose only integers are the error indicators).  A step is accepted only if the true
(forward-pass) training loss does not increase, so the per-iteration loss never increases.
"""
from __future__ import annotations

import time

import numpy as np

from qbnn.mip.layers import forward, loss, random_weights
from qbnn.mip.model import bias_bounds, solve_mip


def local_search(X, y, layers, *, iterations=6, seed=0, time_limit=60.0, step_time=None,
                 integer=False, bias=True, bias_bound=None, eps=1e-3, rho=0.0, init=None,
                 weight_bound=1.0, reg_weight=0.0):
    """Return dict with weights, biases, losses (per iteration, non-increasing), seconds.

    ``losses`` count training errors only; with ``reg_weight`` each step's MILP minimises
    errors + penalty, and a step is kept when the errors do not increase."""
    t0 = time.perf_counter()
    L = len(layers) - 2
    Bs = bias_bounds(layers, X, bias_bound, weight_bound, eps, rho, bias)
    if init is None:
        Ws, bs = random_weights(layers, seed=seed, bias=bias, integer=integer, weight_bound=weight_bound)
        if bias:  # random biases in [-B_k / 2, B_k / 2]
            bs = [b * B for b, B in zip(bs, Bs)]
    else:
        Ws, bs = [np.array(w, float) for w in init[0]], [np.array(b, float) for b in init[1]]
    best = loss(Ws, bs, X, y)
    losses = [best]
    step_time = step_time or max(time_limit / max(2 * iterations, 1), 0.5)
    common = dict(integer=integer, bias=bias, bias_bound=Bs, eps=eps, seed=seed, rho=rho,
                  weight_bound=weight_bound, reg_weight=reg_weight)
    n_steps = 0
    for it in range(iterations):
        for mode in ("fix_output", "fix_pattern"):
            left = time_limit - (time.perf_counter() - t0)
            if left <= 0.05:
                break
            if mode == "fix_output" or L == 0:
                fw = {len(layers) - 2: (Ws[-1], bs[-1])} if L > 0 else {}
                res = solve_mip(X, y, layers, fix_weights=fw, warm=(Ws, bs),
                                time_limit=min(step_time, left), **common)
            else:
                acts, _ = forward(Ws, bs, X)
                res = solve_mip(X, y, layers, fix_activations=acts, warm=(Ws, bs),
                                time_limit=min(step_time, left), **common)
            n_steps += 1
            if res.has_solution:
                new = loss(res.weights, res.biases, X, y)
                if new <= best:
                    Ws, bs, best = res.weights, res.biases, new
        losses.append(best)
        if best == 0 or time_limit - (time.perf_counter() - t0) <= 0.05:
            break
    return {"weights": Ws, "biases": bs, "losses": losses, "objective": float(best),
            "seconds": time.perf_counter() - t0, "steps": n_steps}
