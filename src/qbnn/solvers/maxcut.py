"""MaxCut helpers: cut values and time-to-target on G-set graphs."""
from __future__ import annotations

import numpy as np

from qbnn.errors import QbnnError
from qbnn.memory import check_fits
from qbnn.solver_registry import AUTO_GENERIC
from qbnn.solvers import solve
from qbnn.solvers.problem import IsingProblem
from qbnn.solvers.sa import sa_schedule
from qbnn.storage_layout import solve_estimate


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


#: solver of ``qbnn maxcut``: the registry's generic choice (SA, our fastest on every G-set graph; docs/solvers.md)
DEFAULT_MAXCUT_SOLVER = AUTO_GENERIC


def solve_maxcut(path, solver: str = DEFAULT_MAXCUT_SOLVER, target_cut: float | None = None, **kw):
    """Load a G-set graph and solve; returns (problem, result, best_cut).

    SA fills options not given from :func:`sa_schedule`."""
    prob = IsingProblem.from_gset(path)
    if solver == "sa":
        kw = {**sa_schedule(prob, kw.get("time_limit"), kw.get("device") or "auto"),
              **{k: v for k, v in kw.items() if v is not None}}
    target = None if target_cut is None else energy_for_cut(prob, target_cut)
    res = solve(prob, solver=solver, target_energy=target, **kw)
    return prob, res, float(cut_value(prob, res.best_state))


def gset_shape(path) -> tuple[int, int]:
    """(nodes, edges) from the header line of a G-set graph file ((0, 0) if unreadable: the reader says why)."""
    try:
        with open(path, "rb") as f:
            head = f.readline(256).split()
        return max(0, int(head[0])), max(0, int(head[1]))
    except (OSError, ValueError, IndexError):
        return 0, 0


def guard_maxcut(path, replicas: int, solver: str, device, steps: int = 0) -> dict:
    """Refuse (QbnnError) a MaxCut solve that would not fit: the edge list as read by ``np.loadtxt``
    (three float64 columns plus Python's per-row parsing) and the Ising machine on ``n`` nodes."""
    n, m = gset_shape(path)
    dev = str(device)
    est = solve_estimate(n, m, replicas, solver, dev, steps=steps)
    est["host_bytes"] += m * GSET_BYTES_PER_EDGE
    what = f"MaxCut on {path} ({n:,} nodes, {m:,} edges, {replicas} replicas)"
    check_fits(est["host_bytes"], what)
    if est["device_bytes"]:
        check_fits(est["device_bytes"], what + " on " + dev, dev)
    return {"nodes": n, "edges": m, **est}


# np.loadtxt's float64 (m, 3) array, its parse buffers, and the COO -> CSR copies of the edges
GSET_BYTES_PER_EDGE = 3 * 8 * 3
