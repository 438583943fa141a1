"""Training-grade solving of compiled BNN QUBOs with feasibility-preserving cluster moves.

* :mod:`.moves` — incremental exact deltas ``F(w') − F(w)`` of weight-flip cluster moves;
* :mod:`.tempering` — annealed Metropolis, parallel tempering, greedy descent on those moves;
* :mod:`.portfolio` — warm starts, multi-start portfolio, :func:`solve_bnn` and ``STRATEGIES``.
"""
from qbnn.bnn_solving.moves import AffineResidual, MoveState, fit_affine_residual
from qbnn.bnn_solving.portfolio import STRATEGIES, BNNProblem, BNNSolveResult, solve_bnn, warm_starts
from qbnn.bnn_solving.tempering import SearchResult, anneal_moves, greedy_descent, parallel_tempering

__all__ = ["AffineResidual", "MoveState", "fit_affine_residual", "STRATEGIES", "BNNProblem", "BNNSolveResult",
           "solve_bnn", "warm_starts", "SearchResult", "anneal_moves", "greedy_descent", "parallel_tempering"]
