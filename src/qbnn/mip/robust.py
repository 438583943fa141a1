"""Robustness evaluation for networks trained with an l_inf radius ``rho`` (``solve_mip(rho=...)``).

The robust MILP requires ``a_j(x) - rho*||W_j||_1 >= eps`` when ``u_j = 1`` and
``a_j(x) + rho*||W_j||_1 <= -eps`` when ``u_j = 0`` for every first-layer neuron, so each
first-layer activation is constant on the l_inf ball (the worst case over the ball of
``W_j x'`` is attained at a vertex, ``x - rho*sign(W_j)``).
"""
from __future__ import annotations

import numpy as np

from qbnn.mip.layers import predict

EPSILONS = (0.0, 0.5, 1.0, 1.5, 2.0)


def first_layer_worst_case(W, b, X, rho):
    """Worst-case first-layer pre-activations over the ball: (min, max) per (sample, neuron)."""
    a = np.asarray(X, float) @ W.T + b
    r = rho * np.abs(W).sum(axis=1)
    return a - r, a + r


def first_layer_stable(W, b, X, rho):
    """True per sample iff no first-layer activation can change inside the ball of radius rho."""
    lo, hi = first_layer_worst_case(W, b, X, rho)
    return np.all((lo >= 0) | (hi < 0), axis=1)


def random_sign_accuracy(Ws, bs, X, y, epsilons=EPSILONS, repeats=5, seed=0):
    """Accuracy under random sign perturbations ``x + eps * s``, s in {-1,1}^d, per eps."""
    rng = np.random.default_rng(seed)
    X = np.asarray(X, float)
    out = {}
    for e in epsilons:  # one draw sequence for every network: same seed, same perturbations
        accs = []
        for _ in range(repeats):
            s = rng.choice([-1.0, 1.0], size=X.shape)
            accs.append(np.mean(predict(Ws, bs, X + e * s) == np.asarray(y)))
        out[float(e)] = float(np.mean(accs))
    return out


def worst_case_first_layer_accuracy(Ws, bs, X, y, rho):
    """Fraction of points correctly classified and first-layer stable in the ball (certified)."""
    ok = predict(Ws, bs, X) == np.asarray(y)
    return float(np.mean(ok & first_layer_stable(Ws[0], bs[0], X, rho)))


def robust_metrics(Ws, bs, X, y, epsilons=EPSILONS, repeats=5, seed=0):
    """Flat metrics per attack size e: ``attack_accuracy_e{e}`` (random sign perturbations of
    size e, mean over ``repeats`` draws) and ``certified_accuracy_e{e}`` (correct and every
    first-layer activation constant on the whole l_inf ball: a lower bound on the accuracy
    under any attack of that size, certified for the first layer only)."""
    out = {f"attack_accuracy_e{e:g}": v
           for e, v in random_sign_accuracy(Ws, bs, X, y, epsilons, repeats, seed).items()}
    for e in epsilons:
        out[f"certified_accuracy_e{float(e):g}"] = worst_case_first_layer_accuracy(Ws, bs, X, y, float(e))
    return out
