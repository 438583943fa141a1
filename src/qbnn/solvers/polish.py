"""Greedy steepest-descent polish: flip the spin with the most negative ΔE until none is left."""
from __future__ import annotations

import numpy as np

from qbnn.solvers.problem import IsingProblem


def greedy_polish(problem: IsingProblem, states: np.ndarray, max_flips: int | None = None) -> np.ndarray:
    """Return a copy of ``states`` ``(R, n)`` (±1) driven to single-flip local minima (float64)."""
    S = np.array(np.atleast_2d(states), dtype=np.float64)
    R, n = S.shape
    J = problem.J
    F = problem.h[None, :] + np.asarray((J @ S.T).T)  # local fields (R, n)
    max_flips = 10 * n + 10 if max_flips is None else max_flips
    rows = np.arange(R)
    for _ in range(max_flips):
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
