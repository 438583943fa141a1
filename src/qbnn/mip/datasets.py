"""The paper's datasets: breast cancer, digits, planted random instances."""
from __future__ import annotations

import numpy as np

from qbnn.errors import QbnnError
from qbnn.mip.layers import predict, random_weights

DATASETS = ("breast_cancer", "digits", "digits_3v8", "planted")


def planted(n_train=40, n_test=200, d=4, layers=None, seed=0, low=-10.0, high=10.0,
            min_class=0.25, tries=200):
    """Uniform features in [low, high]; labels from a planted random network (±1 or class index).

    A random network often labels (almost) everything alike; planted networks are redrawn
    (seeded) until the rarest class holds >= ``min_class`` of the points (1 / (2 C) for C > 1
    outputs), else the most balanced draw is kept.
    """
    layers = list(layers or [d, 3, 1])
    d = layers[0]
    rng = np.random.default_rng(seed)
    X = rng.uniform(low, high, size=(n_train + n_test, d))
    n_cls = 2 if layers[-1] == 1 else layers[-1]
    need = min_class if layers[-1] == 1 else 1.0 / (2 * n_cls)
    best = None
    for t in range(tries):
        Ws, bs = random_weights(layers, seed=seed + 1000 + 7919 * t)
        y = predict(Ws, bs, X)
        _, cnt = np.unique(y, return_counts=True)
        frac = cnt.min() / len(y) if len(cnt) == n_cls else 0.0
        if best is None or frac > best[0]:
            best = (frac, y)
        if frac >= need:
            break
    y = best[1]
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def _split(X, y, n_train, n_test, seed):
    rng = np.random.default_rng(seed)
    p = rng.permutation(len(X))
    tr, te = p[:n_train], p[n_train:n_train + n_test]
    return X[tr], y[tr], X[te], y[te]


def load(name, n_train=40, n_test=200, seed=0, layers=None):
    """-> (X_train, y_train, X_test, y_test); features scaled to [-1, 1] for the real datasets."""
    if name == "planted":
        return planted(n_train, n_test, layers=layers, seed=seed)
    from sklearn import datasets as skd
    if name == "breast_cancer":
        X, y = skd.load_breast_cancer(return_X_y=True)
        y = np.where(y == 1, 1, -1)
    elif name == "digits":
        X, y = skd.load_digits(return_X_y=True)
    elif name == "digits_3v8":  # two-class task on a confusable pair: 3 -> +1, 8 -> -1
        X, y = skd.load_digits(return_X_y=True)
        keep = np.isin(y, (3, 8))
        X, y = X[keep], np.where(y[keep] == 3, 1, -1)
    else:
        raise QbnnError(f"unknown dataset {name!r} (choose from {', '.join(DATASETS)})")
    lo, hi = X.min(0), X.max(0)
    X = 2 * (X - lo) / np.where(hi > lo, hi - lo, 1) - 1
    return _split(X, y, n_train, n_test, seed)
