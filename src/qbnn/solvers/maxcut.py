"""MaxCut helpers: cut values and time-to-target on G-set graphs."""
from __future__ import annotations

import math

import numpy as np

from qbnn.errors import QbnnError
from qbnn.solvers.problem import IsingProblem


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


#: solver of ``qbnn maxcut`` (benchmarks/solvers.py: SA reaches every target first)
DEFAULT_MAXCUT_SOLVER = "sa"
#: SA schedule rule for graphs (see :func:`sa_schedule`)
SA_UPDATES_PER_SWEEP = 16_384
SA_MIN_REPLICAS, SA_MAX_REPLICAS = 2, 32
SA_FIRST_SWEEPS = 100
SA_RESTART_GROWTH = 2.0
#: anneals without a time limit (100 ... 6,400 sweeps: a fixed, deterministic step budget)
SA_ANNEALS_WITHOUT_LIMIT = 7


def sa_schedule(problem: IsingProblem, time_limit: float | None = None) -> dict:
    """SA options for a graph, from its size only (no per-instance tuning).

    replicas: the power of two nearest ``SA_UPDATES_PER_SWEEP / n`` within [2, 32] (16 on 800-1,000
    nodes, 8 on 2,000, 4 on 3,000-5,000, 2 above); steps: a short first anneal of ``SA_FIRST_SWEEPS`` sweeps, each
    restart under a time limit ``SA_RESTART_GROWTH`` times longer (the anneal length a graph
    needs is found by doubling, at most a geometric-series overhead), and without a time limit
    ``SA_ANNEALS_WITHOUT_LIMIT`` anneals (a fixed step budget); β range ``'field'``."""
    want = SA_UPDATES_PER_SWEEP / max(problem.n, 1)
    replicas = int(min(SA_MAX_REPLICAS, max(SA_MIN_REPLICAS, 2 ** round(math.log2(want)))))
    return {"replicas": replicas, "steps": SA_FIRST_SWEEPS, "beta_range": "field",
            "restart_growth": SA_RESTART_GROWTH,
            "max_restarts": None if time_limit is not None else SA_ANNEALS_WITHOUT_LIMIT}


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
