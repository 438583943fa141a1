"""Weight-block large-neighbourhood search (LNS).

Every step fixes all weights but one block — a subset of one neuron's incoming weights — and
solves the block's exact sub-problem (:mod:`qbnn.training.blocks`) over all training samples:
exhaustively for blocks of ≤ 16 bits, or the whole neuron by its MILP twin (HiGHS). A sweep
visits every neuron (hidden and output) once in a seeded random order and, inside a neuron,
covers its weights with disjoint random blocks, so both layers move. Steps never raise the
objective; ties are broken at random (sideways moves cross plateaus of the 0/1 loss); the search
stops early at the objective's lower bound (zero loss, every penalty satisfied). When a
whole sweep brings no strict improvement, a *kick* re-draws one random block of a random neuron
(the best network is kept; the search goes on from the kicked one).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from qbnn.training.blocks import NeuronBlock, solve_block_milp
from qbnn.training.objective import NetState, TrainingProblem

SUB_SOLVERS = ("exhaustive", "milp")


@dataclass
class LNSResult:
    weights: np.ndarray
    objective: float
    steps: int
    sweeps: int
    kicks: int
    trace: list[tuple[int, float, float]] = field(default_factory=list)  # (step, seconds, best F)
    snapshots: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (seconds, best weights), 0.5·2^i s


def neuron_blocks(fan_in: int, block_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Disjoint random blocks of positions ``0..fan_in-1``, each of at most ``block_size``, covering all."""
    perm = rng.permutation(fan_in)
    n_blocks = -(-fan_in // block_size)
    return [np.sort(b) for b in np.array_split(perm, n_blocks)]


def lns(problem: TrainingProblem, w0: np.ndarray, *, steps: int | None = None, time_limit: float | None = None,
        seed: int = 0, block_size: int = 12, sub_solver: str = "exhaustive", milp_time: float = 1.0,
        deadline: float | None = None, margin_ties: bool = True) -> LNSResult:
    """Run LNS from ``w0`` until ``steps`` block solves or ``time_limit`` seconds (whichever first).
    Without a time limit the run is deterministic for a seed."""
    if sub_solver not in SUB_SOLVERS:
        raise ValueError(f"unknown LNS sub-solver {sub_solver!r} ({', '.join(SUB_SOLVERS)})")
    if steps is None and time_limit is None and deadline is None:
        raise ValueError("LNS needs a step budget or a time limit")
    t0 = time.perf_counter()
    if time_limit is not None:
        deadline = t0 + float(time_limit) if deadline is None else min(deadline, t0 + float(time_limit))
    rng = np.random.default_rng(seed)
    st = NetState(problem, w0)
    topo = problem.topology
    best_w, best_F = st.w.copy(), st.F
    lower = -float(np.abs(problem.weight_penalties).sum())  # loss 0 with every penalty satisfied
    trace = [(0, 0.0, best_F)]
    step = sweeps = kicks = 0
    sweep_start_F = st.F
    snapshots, next_snap = [], 0.5  # best network at doubling times (accuracy against time; no effect on the search)
    while True:
        for j in rng.permutation(topo.n_neurons):
            n = topo.fan_in(int(j))
            blocks = [np.arange(n)] if sub_solver == "milp" else neuron_blocks(n, block_size, rng)
            blk = None if sub_solver == "milp" else NeuronBlock(st, int(j))
            for pos in blocks:
                if ((steps is not None and step >= steps) or best_F <= lower + 1e-9
                        or (deadline is not None and time.perf_counter() >= deadline)):
                    return LNSResult(best_w, best_F, step, sweeps, kicks, trace, snapshots)
                if step % 16 == 0 and time.perf_counter() - t0 >= next_snap:
                    snapshots.append((time.perf_counter() - t0, best_w.copy()))
                    next_snap *= 2
                if blk is None:
                    w_j, F = solve_block_milp(st, int(j), time_limit=milp_time)
                else:
                    F = blk.solve_exhaustive(pos, rng, margin_ties)
                    w_j = blk.w.astype(np.int8)
                step += 1
                sl = topo.weight_slice(int(j))
                if not np.array_equal(w_j, st.w[sl]):
                    st.commit_neuron(int(j), w_j)
                    assert abs(st.F - F) < 1e-6, (st.F, F)  # the block objective is exact
                if st.F < best_F - 1e-9:
                    best_F, best_w = st.F, st.w.copy()
                    trace.append((step, time.perf_counter() - t0, best_F))
        sweeps += 1
        if st.F >= sweep_start_F - 1e-9:  # a sweep without strict progress: kick one block
            j = int(rng.integers(topo.n_neurons))
            sl = topo.weight_slice(j)
            pos = neuron_blocks(topo.fan_in(j), max(block_size, 1), rng)[0]
            w_j = st.w[sl].copy()
            w_j[pos] = rng.choice(np.array([-1, 1], dtype=np.int8), size=len(pos))
            st.commit_neuron(j, w_j)
            kicks += 1
        sweep_start_F = st.F
