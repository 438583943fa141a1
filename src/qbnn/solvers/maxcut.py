"""MaxCut helpers: cut values and time-to-target on G-set graphs."""
from __future__ import annotations

import numpy as np

from qbnn.errors import QbnnError
from qbnn.solvers.problem import IsingProblem
from qbnn.solvers.sa import sa_schedule


def weight_sum(problem: IsingProblem) -> float:
    if "weight_sum" in problem.meta:
        return float(problem.meta["weight_sum"])
    return float(problem.J.data.sum() / 2.0)


def cut_value(problem: IsingProblem, spins) -> np.ndarray | float:
    """Cut weight of ±1 spins for a graph problem ``E = Σ w s_i s_j``: ``(W - E) / 2``."""
    if np.any(problem.h != 0) or problem.offset != 0:
        raise QbnnError("cut values are defined for pure graph problems (no fields/offset)")
    E = problem.energy(spins)
    return (weight_sum(problem) - E) / 2.0


def energy_for_cut(problem: IsingProblem, cut: float) -> float:
    """Energy that corresponds to a cut of weight ``cut``."""
    return weight_sum(problem) - 2.0 * float(cut)


#: solver of ``qbnn maxcut``: SA, our fastest on every G-set graph (sb/dsb/ma: docs/solvers.md)
DEFAULT_MAXCUT_SOLVER = "sa"


def solve_maxcut(path, solver: str = DEFAULT_MAXCUT_SOLVER, target_cut: float | None = None, **kw):
    """Load a G-set graph and solve; returns (problem, result, best_cut).

    SA fills options not given from :func:`sa_schedule`."""
    from qbnn.solvers import solve

    prob = IsingProblem.from_gset(path)
    if solver == "sa":
        kw = {**sa_schedule(prob, kw.get("time_limit")), **{k: v for k, v in kw.items() if v is not None}}
    target = None if target_cut is None else energy_for_cut(prob, target_cut)
    res = solve(prob, solver=solver, target_energy=target, **kw)
    return prob, res, float(cut_value(prob, res.best_state))
