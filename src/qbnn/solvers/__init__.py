"""Ising machines in PyTorch: simulated bifurcation (bSB, dSB), simulated annealing, momentum
annealing; greedy polish; exhaustive reference; MaxCut helpers.

All solvers take an :class:`IsingProblem` and keyword options
``replicas, steps, time_limit, target_energy, device ('auto'|'cpu'|'cuda'), seed, dtype,
polish, best_only, check_every, progress`` and return a :class:`SolveResult`.
"""
from __future__ import annotations

from qbnn import solver_registry as _registry
from qbnn.errors import QbnnError
from qbnn.solvers.coloring import greedy_coloring
from qbnn.solvers.exhaustive import MAX_EXHAUSTIVE, exhaustive_search
from qbnn.solvers.ma import momentum_annealing
from qbnn.solvers.polish import greedy_polish
from qbnn.solvers.problem import IsingProblem, SolveResult, bits_to_spins, resolve_device, spins_to_bits
from qbnn.solvers.sa import sa_schedule, simulated_annealing
from qbnn.solvers.sb import ballistic_sb, discrete_sb, simulated_bifurcation

#: solver name -> function(problem, **options) -> SolveResult: the registry's generic Ising machines
#: (qbnn.solver_registry, aliases included)
SOLVERS = {name: spec.load() for spec in _registry.SOLVERS.values() if spec.kind == "ising"
           for name in (spec.name, *spec.aliases)}


def solve(problem: IsingProblem, solver: str = "sb", **options) -> SolveResult:
    """Dispatch to one of :data:`SOLVERS` (``'exhaustive'`` also accepted for ≤ 24 spins)."""
    if solver == "exhaustive":
        return exhaustive_search(problem)
    if solver not in SOLVERS:
        raise QbnnError(f"unknown solver {solver!r} (choose {', '.join(SOLVERS)} or exhaustive)")
    return SOLVERS[solver](problem, **options)


__all__ = ["IsingProblem", "SolveResult", "SOLVERS", "solve", "ballistic_sb", "discrete_sb",
           "simulated_bifurcation", "simulated_annealing", "momentum_annealing", "greedy_polish",
           "exhaustive_search", "MAX_EXHAUSTIVE", "greedy_coloring", "sa_schedule",
           "resolve_device", "spins_to_bits", "bits_to_spins"]
