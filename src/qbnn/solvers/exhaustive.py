"""Exhaustive ground state for small problems (≤ 24 spins), vectorised in chunks."""
from __future__ import annotations

import time

import numpy as np
import torch

from qbnn.errors import QbnnError
from qbnn.solvers.problem import IsingProblem, SolveResult

MAX_EXHAUSTIVE = 24


def exhaustive_search(problem: IsingProblem, chunk: int = 1 << 16) -> SolveResult:
    """Enumerate all 2^n spin states (float64); returns the lowest (first in index order)."""
    n = problem.n
    if n > MAX_EXHAUSTIVE:
        raise QbnnError(f"exhaustive search is limited to {MAX_EXHAUSTIVE} spins, problem has {n}")
    t0 = time.perf_counter()
    J = torch.as_tensor(problem.J.toarray(), dtype=torch.float64)
    h = torch.as_tensor(problem.h, dtype=torch.float64)
    shifts = torch.arange(n, dtype=torch.int64)
    best_e, best_idx, n_ground = np.inf, 0, 0
    total = 1 << n
    for start in range(0, total, chunk):
        idx = torch.arange(start, min(start + chunk, total), dtype=torch.int64)
        S = (((idx[:, None] >> shifts) & 1) * 2 - 1).to(torch.float64)
        E = problem.offset + S @ h + 0.5 * ((S @ J) * S).sum(1)
        m = float(E.min())
        if m < best_e - 1e-9:
            best_e, best_idx = m, start + int(torch.argmin(E))
            n_ground = int((E <= m + 1e-9).sum())
        elif abs(m - best_e) <= 1e-9:
            n_ground += int((E <= m + 1e-9).sum())
    s = (((best_idx >> np.arange(n)) & 1) * 2 - 1).astype(np.int8)
    sec = time.perf_counter() - t0
    return SolveResult("exhaustive", s[None, :], np.array([best_e]), s, float(best_e), sec, sec,
                       [(1, sec, float(best_e))], steps_done=total, info={"ground_state_degeneracy": n_ground})
