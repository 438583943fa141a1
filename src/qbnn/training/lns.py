"""Weight-block large-neighbourhood search (LNS).

Every step fixes all weights but one block — a subset of one neuron's incoming weights — and
solves the block's exact sub-problem (:mod:`qbnn.training.blocks`) over all training samples:
exhaustively for blocks of ≤ 16 bits, or the whole neuron by its MILP twin (HiGHS). A sweep
visits every neuron (hidden and output) once in a seeded random order and, inside a neuron,
covers its weights with disjoint random blocks, so both layers move. Steps never raise the
objective; ties are broken at random (sideways moves cross plateaus of the 0/1 loss). When a
whole sweep brings no strict improvement, a *kick* re-draws one random block of a random neuron
(the best network is kept; the search goes on from the kicked one).

At the objective's lower bound (:meth:`TrainingProblem.search_floor`: every output margin ≥ κ except
on inputs that repeat with another target, every penalty satisfied) the documented search stops.
Under the hinge surrogate a *margin phase* uses the rest of the budget instead: κ grows by
``kappa_step`` each time the floor is reached again, and the network returned is the best by the
documented objective (loss + h·w), ties going to the lowest hinge at the latest κ — so the phase
never returns a higher documented loss than the network that reached the first floor, and among
networks of that loss it prefers the larger output margins.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

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
    kappa: float | None = None  # the margin phase's last κ (None: the phase never started)
    margin_levels: int = 0  # how many times κ was raised


def neuron_blocks(fan_in: int, block_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Disjoint random blocks of positions ``0..fan_in-1``, each of at most ``block_size``, covering all."""
    perm = rng.permutation(fan_in)
    n_blocks = -(-fan_in // block_size)
    return [np.sort(b) for b in np.array_split(perm, n_blocks)]


def lns(problem: TrainingProblem, w0: np.ndarray, *, steps: int | None = None, time_limit: float | None = None,
        seed: int = 0, block_size: int = 12, sub_solver: str = "exhaustive", milp_time: float = 1.0,
        deadline: float | None = None, margin_ties: bool = True, margin_phase: bool = True,
        kappa_step: float = 1.0, on_incumbent=None) -> LNSResult:
    """Run LNS from ``w0`` until ``steps`` block solves or ``time_limit`` seconds (whichever first).
    Without a time limit the run is deterministic for a seed. ``on_incumbent(step, seconds, weights)`` is
    called each time the network the search would return changes (it must not modify ``weights``)."""
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
    lower = problem.search_floor()
    sg = problem.surrogate
    grows = margin_phase and sub_solver == "exhaustive" and sg.hinge > 0 and sg.errors == 0
    margin: _MarginPhase | None = None  # set once the first floor is reached (hinge surrogate only)
    trace = [(0, 0.0, best_F)]
    step = sweeps = kicks = 0
    sweep_start_F = st.F
    snapshots, next_snap = [], 0.5  # best network at doubling times (accuracy against time; no effect on the search)

    reported = best_w

    def report() -> None:  # tell the observer about a new incumbent (identity: kept arrays are fresh copies)
        nonlocal reported
        cur = best_w if margin is None else margin.w
        if on_incumbent is not None and cur is not reported:
            reported = cur
            on_incumbent(step, time.perf_counter() - t0, cur)

    def result() -> LNSResult:
        if margin is None:
            return LNSResult(best_w, best_F, step, sweeps, kicks, trace, snapshots)
        return LNSResult(margin.w, margin.F, step, sweeps, kicks, trace, snapshots, margin.kappa, margin.levels)

    while True:
        for j in rng.permutation(topo.n_neurons):
            n = topo.fan_in(int(j))
            blocks = [np.arange(n)] if sub_solver == "milp" else neuron_blocks(n, block_size, rng)
            blk = None if sub_solver == "milp" else NeuronBlock(st, int(j))
            for pos in blocks:
                if (steps is not None and step >= steps) or (deadline is not None and time.perf_counter() >= deadline):
                    return result()
                if st.F <= lower + 1e-9:  # the floor of the current objective
                    if not grows:
                        return result()
                    if margin is None:
                        margin = _MarginPhase(st)
                    margin.raise_kappa(st, kappa_step)
                    report()
                    lower = st.p.search_floor()
                    sweep_start_F = st.F
                    blk = NeuronBlock(st, int(j))
                if step % 16 == 0 and time.perf_counter() - t0 >= next_snap:
                    snapshots.append((time.perf_counter() - t0, (best_w if margin is None else margin.w).copy()))
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
                if margin is not None:
                    margin.offer(st)
                elif st.F < best_F - 1e-9:
                    best_F, best_w = st.F, st.w.copy()
                    trace.append((step, time.perf_counter() - t0, best_F))
                report()
        sweeps += 1
        if st.F >= sweep_start_F - 1e-9:  # a sweep without strict progress: kick one block
            j = int(rng.integers(topo.n_neurons))
            sl = topo.weight_slice(j)
            pos = neuron_blocks(topo.fan_in(j), max(block_size, 1), rng)[0]
            w_j = st.w[sl].copy()
            w_j[pos] = rng.choice(np.array([-1, 1], dtype=np.int8), size=len(pos))
            st.commit_neuron(j, w_j)
            kicks += 1
            if margin is not None:
                margin.offer(st)
                report()
        sweep_start_F = st.F


class _MarginPhase:
    """The network kept by the margin phase: lowest documented objective, then lowest search objective at
    the current κ. Raising κ re-states the search (and the kept network's value) under the larger margin."""

    def __init__(self, st: NetState) -> None:
        self.w, self.doc, self.F = st.w.copy(), st.documented_objective(), st.F
        self.kappa, self.levels = st.p.surrogate.kappa, 0

    def raise_kappa(self, st: NetState, step: float) -> None:
        self.kappa += step
        self.levels += 1
        st.p = st.p.with_surrogate(replace(st.p.surrogate, kappa=self.kappa))
        st.set_weights(st.w)
        self.F = st.p.search_objective(self.w)
        self.offer(st)

    def offer(self, st: NetState) -> None:
        doc = st.documented_objective()
        if doc < self.doc - 1e-9 or (doc <= self.doc + 1e-9 and st.F < self.F - 1e-9):
            self.w, self.doc, self.F = st.w.copy(), doc, st.F
