"""Greedy descent polish: drive states to single-flip local minima.

Phase 1 sweeps the colour classes of the coupling graph (independent sets, the same colouring SA
uses): every spin of a class whose flip lowers the energy flips at once, which is exact because no
two spins of a class interact. Phase 2 is steepest descent (one best flip per replica and step);
after phase 1 it usually has nothing left to do. One flip per step from a random 10k-spin state
took 13 s (measured, 32 replicas, a [16,8,1] BNN QUBO); the sweeps reach a local minimum in a
few dozen vectorised steps. A ``deadline`` (``time.perf_counter()`` value) stops either phase
early, so a solver's time limit also bounds its polish; the states stay valid, only less polished.
"""
from __future__ import annotations

import time

import numpy as np

from qbnn.solvers.coloring import colour_classes
from qbnn.solvers.problem import IsingProblem


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.perf_counter() >= deadline


def greedy_polish(problem: IsingProblem, states: np.ndarray, max_flips: int | None = None,
                  deadline: float | None = None) -> np.ndarray:
    """Return a copy of ``states`` ``(R, n)`` (±1) driven to single-flip local minima (int8).

    ``max_flips`` bounds the steepest-descent phase (default ``10 n + 10``); ``deadline`` is a
    ``time.perf_counter()`` value after which polishing stops (the states returned are then
    improved but possibly not yet local minima)."""
    S = np.array(np.atleast_2d(states), dtype=np.float64)
    R, n = S.shape
    J = problem.J
    F = problem.h[None, :] + np.asarray((J @ S.T).T)  # local fields (R, n)
    if n > 1 and J.nnz:
        while not _past(deadline):
            flipped = False
            for idx in colour_classes(problem):
                down = S[:, idx] * F[:, idx] > 1e-9  # ΔE = -2 s F < 0
                if not down.any():
                    continue
                flipped = True
                delta = np.where(down, -2.0 * S[:, idx], 0.0)  # change of s on this class, (R, |idx|)
                S[:, idx] += delta
                F += np.asarray((J[idx].T @ delta.T).T)
            if not flipped:
                break
    max_flips = 10 * n + 10 if max_flips is None else max_flips
    rows = np.arange(R)
    for _ in range(max_flips):
        if _past(deadline):
            break
        dE = -2.0 * S * F
        idx = dE.argmin(axis=1)
        act = dE[rows, idx] < -1e-9
        if not act.any():
            break
        r, i = rows[act], idx[act]
        S[r, i] = -S[r, i]
        # F_r += 2 s_new_i J[i, :]
        F[r] += 2.0 * S[r, i][:, None] * J[i].toarray()
    return S.astype(np.int8)
