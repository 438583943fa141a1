"""Sample-batched QUBOs with consensus penalties.

Round ``r`` draws a batch of ``B`` training samples (seeded) and minimises the batch's exact
objective plus a linear consensus penalty that pulls every weight towards the current network
``w̄`` — the same mechanism as the dropout scheme's penalties (``docs/dropout.md``):

    F_r(w) = loss_batch(w) + Σ_e h_e w_e − ρ_r Σ_e w̄_e w_e,      ρ_r = ρ_0 · g^r

i.e. the batch QUBO of ``qbnn.compiler.compile_bnn(..., weight_penalties=h − ρ_r w̄)`` (``B`` samples:
``n_w + B·stride`` variables, so the batch size is what bounds the Ising machine's spin count). The
batch minimiser becomes the new ``w̄``; as ``ρ_r`` grows the rounds move less and the iterate settles
on a network good on all samples. The network with the best objective on the full training set is
returned. The batch problems are solved by weight-block LNS (:mod:`qbnn.training.lns`), one sweep
per round.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from qbnn.compiler.layout import neuron_layout
from qbnn.errors import QbnnError
from qbnn.training.lns import lns
from qbnn.training.objective import NetState, TrainingProblem


@dataclass
class ConsensusResult:
    weights: np.ndarray
    objective: float
    rounds: int
    steps: int
    batch_size: int
    trace: list[tuple[int, float, float]] = field(default_factory=list)


def batch_size_for_spins(topology, max_spins: int | None, n_samples: int, default: int = 200) -> int:
    """Largest batch whose QUBO (``n_w + B·stride`` variables) has at most ``max_spins`` variables."""
    if max_spins is None:
        return min(n_samples, default)

    stride = neuron_layout(topology)[1]
    B = (int(max_spins) - topology.n_weights) // max(stride, 1)
    if B < 1:
        raise QbnnError(f"--max-spins {max_spins} cannot hold one sample's QUBO ({topology.n_weights} weight bits "
                        f"+ {stride} bits per sample)")
    return min(n_samples, B)


def consensus(problem: TrainingProblem, w0: np.ndarray, *, steps: int | None = None, time_limit: float | None = None,
              seed: int = 0, batch_size: int = 200, rho0: float = 0.02, growth: float = 1.1,
              block_size: int = 12) -> ConsensusResult:
    """Run consensus rounds until ``steps`` block solves (summed over rounds) or ``time_limit``."""
    if steps is None and time_limit is None:
        raise ValueError("consensus needs a step budget or a time limit")
    t0 = time.perf_counter()
    deadline = None if time_limit is None else t0 + float(time_limit)
    rng = np.random.default_rng(seed)
    S = problem.n_samples
    B = max(1, min(int(batch_size), S))
    topo = problem.topology
    sweep = sum(-(-topo.fan_in(j) // block_size) for j in range(topo.n_neurons))  # block solves per sweep
    full = NetState(problem, w0)
    w_bar = full.w.copy()
    best_w, best_F = w_bar.copy(), full.F
    trace = [(0, 0.0, best_F)]
    r = done = 0
    lower = -float(np.abs(problem.weight_penalties).sum())  # loss 0 with every penalty satisfied
    while ((steps is None or done < steps) and (deadline is None or time.perf_counter() < deadline)
           and best_F > lower + 1e-9):
        idx = np.sort(rng.choice(S, size=B, replace=False))
        rho = rho0 * growth ** r
        h = problem.weight_penalties - rho * w_bar.astype(np.float64)
        batch = problem.subset(idx, h)
        n = sweep if steps is None else min(sweep, steps - done)
        res = lns(batch, w_bar, steps=n, seed=int(rng.integers(2**31)), block_size=block_size,
                  deadline=deadline, margin_phase=False)  # one plain sweep per batch
        done += res.steps
        # the batch search's last state is what it returns as best on the batch objective
        w_bar = res.weights.astype(np.int8)
        F = float(problem.objective(w_bar))
        r += 1
        if F < best_F - 1e-9:
            best_F, best_w = F, w_bar.copy()
            trace.append((done, time.perf_counter() - t0, best_F))
    return ConsensusResult(best_w, best_F, r, done, B, trace)
