"""The hinge margin κ of the search surrogate, by rule or chosen by k-fold cross-validation.

``default_kappa`` is the fan-in rule ``round(√n − 1)`` that was tuned on the 10-class digits tasks: there
the search is still improving when the budget ends, and a small κ gets there first. On noisy tabular data
(paper B's credit default, wine) the search instead fits the training set within a second and the small
margin overfits the noisy labels: κ = 2·κ₀ was 0.7–1.9 test points better than STE where κ₀ was 1.6–1.9
worse (docs/training.md). No rule on the topology alone tells the two kinds apart, so ``kappa="cv"``
asks the data: each candidate ``κ₀·{1, 1.5, 2}`` is trained by LNS on ``k − 1`` stratified folds and scored
on the held-out fold (exact forward pass); the best mean validation accuracy wins, ties going to the
smaller κ. The fold runs share a fixed part of the budget (time or steps) equally; the final network is
then trained on all samples with the rest. Without a warm start the final run starts from the chosen κ's
best-validating fold network (trained on ``(k − 1)/k`` of the samples) rather than from random weights,
so the budget the folds used is not lost to the search on slow tasks (10-class digits).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from qbnn.errors import QbnnError
from qbnn.topology import Topology
from qbnn.training.lns import lns
from qbnn.training.objective import Surrogate, TrainingProblem
from qbnn.training.validation import _strata

KAPPA_FACTORS = (1.0, 1.5, 2.0)  # candidates: κ₀ times these, rounded half up, duplicates dropped
CV_FOLDS = 3
CV_SHARE = 0.4  # share of the time / step budget the fold runs use


def default_kappa(topology: Topology) -> float:
    """Hinge margin of the output pre-activations: ``round(√n − 1)`` for the outputs' mean fan-in ``n``
    (5 for 33 inputs, 4 for 25, 3 for 17; chosen on the digits 8×8 / 6×6 tasks, docs/training.md)."""
    n = float(np.mean([topology.fan_in(int(o)) for o in topology.outputs]))
    return float(max(1, round(np.sqrt(n) - 1)))


def kappa_candidates(topology: Topology) -> list[float]:
    """``κ₀ · KAPPA_FACTORS`` rounded half up (κ₀ = :func:`default_kappa`), ascending, without repeats."""
    k0 = default_kappa(topology)
    return sorted({float(max(1, np.floor(k0 * f + 0.5))) for f in KAPPA_FACTORS})


def stratified_folds(y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold index ``(S,)`` in ``0..k-1``: each label (row of labels) is dealt round-robin over the folds in
    a seeded random order, so every fold gets its share of every label."""
    strata = _strata(y)
    rng = np.random.default_rng(seed)
    fold = np.empty(len(strata), dtype=np.int64)
    start = 0
    for s in range(int(strata.max()) + 1 if len(strata) else 0):
        idx = rng.permutation(np.flatnonzero(strata == s))
        fold[idx] = (start + np.arange(len(idx))) % k
        start += len(idx)  # the next label continues the deal: fold sizes differ by at most one
    return fold


@dataclass
class KappaChoice:
    kappa: float
    scores: dict[float, float]  # candidate κ -> mean validation accuracy over the folds
    folds: int
    seconds: float
    runs: list[dict] = field(default_factory=list)  # per (κ, fold): validation accuracy, block solves
    start: np.ndarray | None = None  # the chosen κ's best-validating fold network (first fold on ties)
    start_fold: int | None = None

    def summary(self) -> dict:
        return {"kappa_cv": {f"{k:g}": round(v, 4) for k, v in self.scores.items()}, "cv_folds": self.folds,
                "cv_seconds": round(self.seconds, 3), "cv_block_solves": int(sum(r["block_solves"] for r in self.runs))}


def select_kappa(topology: Topology, X: np.ndarray, y: np.ndarray, *, seed: int, time_limit: float | None = None,
                 steps: int | None = None, block_size: int = 8, margin_phase: bool = True,
                 weight_penalties: np.ndarray | None = None, folds: int = CV_FOLDS,
                 candidates: list[float] | None = None) -> KappaChoice:
    """Choose κ by ``folds``-fold cross-validation of LNS runs (random start, seeded per fold), each run
    given ``time_limit / runs`` seconds and/or ``steps // runs`` block solves."""
    if steps is None and time_limit is None:
        raise QbnnError("κ cross-validation needs a time limit or a step budget")
    cands = kappa_candidates(topology) if candidates is None else sorted({float(c) for c in candidates})
    k = int(folds)
    if k < 2 or len(y) < 2 * k:
        return KappaChoice(cands[0], {}, 0, 0.0)  # too few samples to hold any out: the rule's κ
    t0 = time.perf_counter()
    fold = stratified_folds(y, k, seed)
    n_runs = len(cands) * k
    t_run = None if time_limit is None else time_limit / n_runs
    s_run = None if steps is None else max(1, steps // n_runs)
    acc = {c: [] for c in cands}
    runs = []
    kept: dict[float, tuple[float, int, np.ndarray]] = {}  # κ -> (validation accuracy, fold, weights)
    for f in range(k):
        fit, val = fold != f, fold == f
        if not val.any() or not fit.any():
            continue
        rng = np.random.default_rng([seed, f])
        w0 = rng.choice(np.array([-1, 1], dtype=np.int8), size=topology.n_weights)
        for c in cands:
            p = TrainingProblem(topology, X[fit], y[fit], weight_penalties).with_surrogate(
                Surrogate(errors=0.0, hinge=1.0, kappa=c))
            r = lns(p, w0, steps=s_run, time_limit=t_run, seed=seed + f, block_size=block_size,
                    margin_phase=margin_phase)
            a = float(topology.accuracy(r.weights, X[val], y[val]))
            acc[c].append(a)
            if c not in kept or a > kept[c][0]:
                kept[c] = (a, f, r.weights.copy())
            runs.append({"kappa": c, "fold": f, "val_accuracy": a, "block_solves": r.steps})
    scores = {c: float(np.mean(v)) for c, v in acc.items() if v}
    best = max(scores, key=lambda c: (scores[c], -c)) if scores else cands[0]  # ties: the smaller κ
    start, start_fold = (kept[best][2], kept[best][1]) if best in kept else (None, None)
    return KappaChoice(best, scores, k, time.perf_counter() - t0, runs, start, start_fold)
