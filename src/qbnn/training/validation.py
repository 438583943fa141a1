"""Opt-in validation early stop for ``train`` (``--validation FRACTION``).

A seeded, stratified share of the training samples is held out; the strategy fits on the rest. Every
network the search adopts as its incumbent (the warm start is incumbent 0) is scored on the held-out
share by the exact forward pass, and the one kept is the incumbent with the highest validation accuracy,
ties going to the lowest documented training objective on the fit share, then to the earliest. The
observer never touches the search's random stream, so the search itself is the one it would run on the
fit share alone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qbnn.errors import QbnnError
from qbnn.topology import Topology


def check_fraction(fraction: float | None) -> float:
    """The validation share: ``None`` or ≤ 0 is off (0.0); NaN or ≥ 1 is an error."""
    if fraction is None:
        return 0.0
    f = float(fraction)
    if math.isnan(f) or f >= 1:
        raise QbnnError(f"validation fraction must lie in [0, 1), got {fraction}")
    return max(f, 0.0)


def _strata(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 1:
        return np.unique(y, return_inverse=True)[1]
    return np.unique(y.reshape(len(y), -1), axis=0, return_inverse=True)[1].reshape(-1)


def validation_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(fit_idx, val_idx)``: disjoint sorted indices covering ``0..len(y)-1``. Each label (row of labels
    for several outputs) gives ``round(fraction · count)`` of its samples to validation, at most all but
    one, chosen by ``seed``."""
    f = check_fraction(fraction)
    strata = _strata(y)
    rng = np.random.default_rng(seed)
    val = []
    for s in range(int(strata.max()) + 1 if len(strata) else 0):
        idx = np.flatnonzero(strata == s)
        k = min(len(idx) - 1, int(round(f * len(idx))))
        val.append(rng.permutation(idx)[:k])
    val_idx = np.sort(np.concatenate(val)) if val else np.zeros(0, dtype=int)
    if f > 0 and len(val_idx) == 0:
        raise QbnnError(f"validation fraction {fraction} leaves no validation sample of {len(y)}")
    fit = np.ones(len(y), dtype=bool)
    fit[val_idx] = False
    return np.flatnonzero(fit), val_idx


@dataclass
class Kept:
    index: int  # incumbents offered before it (0 = the warm start)
    step: int
    seconds: float
    accuracy: float
    objective: float
    weights: np.ndarray


class IncumbentValidator:
    """Scores every offered incumbent on the validation share and keeps the best (see module docstring).
    ``objective`` gives the documented training objective on the fit share, computed only for incumbents
    that validate at least as well as the kept one."""

    def __init__(self, topology: Topology, X: np.ndarray, y: np.ndarray, objective) -> None:
        self.topology, self.X, self.y, self.objective = topology, X, y, objective
        self.kept: Kept | None = None
        self.offered = 0
        self._last: np.ndarray | None = None

    def offer(self, step: int, seconds: float, w: np.ndarray) -> None:
        if self._last is not None and np.array_equal(w, self._last):
            return  # the same network again (e.g. the strategy's final answer)
        self._last = np.array(w, dtype=np.int8, copy=True)
        index, self.offered = self.offered, self.offered + 1
        acc = float(self.topology.accuracy(self._last, self.X, self.y))
        k = self.kept
        if k is not None and acc < k.accuracy:
            return
        F = float(self.objective(self._last))
        if k is None or acc > k.accuracy or F < k.objective - 1e-9:
            self.kept = Kept(index, int(step), float(seconds), acc, F, self._last)

    def summary(self, fraction: float, n_fit: int) -> dict:
        k = self.kept
        return {"validation_fraction": fraction, "validation_samples": int(len(self.y)), "fit_samples": int(n_fit),
                "validation_accuracy": k.accuracy, "validation_incumbents": self.offered,
                "kept_incumbent": {"index": k.index, "step": k.step, "seconds": round(k.seconds, 3)}}
