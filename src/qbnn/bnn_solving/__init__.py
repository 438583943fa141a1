"""Training-grade solving of compiled BNN QUBOs with feasibility-preserving cluster moves.

* :mod:`.moves` — incremental exact deltas ``F(w') − F(w)`` of weight-flip cluster moves;
* :mod:`.tempering` — annealed Metropolis, parallel tempering, greedy descent on those moves;
* :mod:`.portfolio` — warm starts (``ste-pt``), multi-start portfolio, :func:`solve_bnn` and ``STRATEGIES``;
* :mod:`.exact_milp` — exact MILP of BNN training (HiGHS): proven minimum training error of small instances.
"""
from qbnn.bnn_solving.moves import AffineResidual, MoveState, fit_affine_residual
from qbnn.bnn_solving.portfolio import (STRATEGIES, BNNProblem, BNNSolveResult, as_solve_result, solve_bnn,
                                       solve_bnn_qubo_file, warm_starts)
from qbnn.bnn_solving.tempering import SearchResult, anneal_moves, greedy_descent, parallel_tempering

#: names usable as ``qbnn solve --solver <name>`` (solved on the compiled QUBO file's weights)
BNN_SOLVERS = tuple(STRATEGIES)

__all__ = ["AffineResidual", "MoveState", "fit_affine_residual", "STRATEGIES", "BNNProblem", "BNNSolveResult",
           "solve_bnn", "warm_starts",
           "as_solve_result", "solve_bnn_qubo_file", "BNN_SOLVERS", "SearchResult", "anneal_moves", "greedy_descent", "parallel_tempering"]
