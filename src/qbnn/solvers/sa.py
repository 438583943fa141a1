"""Batched Metropolis simulated annealing.

Spins are greedily graph-coloured; every colour class (an independent set) updates at once
for all replicas. The problem is permuted so classes are contiguous row blocks of J.
Geometric β schedule from :meth:`IsingProblem.beta_range` (dwave-samplers-like) unless given.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")

from qbnn.solvers.base import Tracker, auto_threads, check_common, check_interval, make_generator, run_restarts
from qbnn.solvers.problem import IsingProblem, SolveResult


def greedy_coloring(J: sp.csr_matrix) -> np.ndarray:
    """Greedy colouring (largest degree first) of the nonzero pattern of symmetric ``J``."""
    n = J.shape[0]
    indptr, indices = J.indptr, J.indices
    deg = np.diff(indptr)
    color = np.full(n, -1, dtype=np.int64)
    for v in np.argsort(-deg, kind="stable"):
        used = set(color[indices[indptr[v]:indptr[v + 1]]].tolist())
        c = 0
        while c in used:
            c += 1
        color[v] = c
    return color


class _Blocks:
    """Row blocks of the colour-permuted J on a device."""

    def __init__(self, problem: IsingProblem, dev, dtype):
        color = greedy_coloring(problem.J)
        self.perm = np.argsort(color, kind="stable")
        counts = np.bincount(color)
        self.bounds = np.concatenate([[0], np.cumsum(counts)]).tolist()
        P = problem.J[self.perm][:, self.perm].tocsr()
        self.h = torch.as_tensor(problem.h[self.perm], dtype=dtype, device=dev).unsqueeze(1)
        self.blocks = []
        dense = problem.dense_for(dev)
        Jd = torch.as_tensor(P.toarray(), dtype=dtype, device=dev) if dense else None
        for a, b in zip(self.bounds[:-1], self.bounds[1:]):
            if dense:
                self.blocks.append(Jd[a:b])
            else:
                B = P[a:b].tocsr()
                self.blocks.append(torch.sparse_csr_tensor(
                    torch.as_tensor(B.indptr, dtype=torch.int64), torch.as_tensor(B.indices, dtype=torch.int64),
                    torch.as_tensor(B.data, dtype=dtype), size=B.shape, check_invariants=False).to(dev))
        self.num_colors = len(counts)


@auto_threads
def simulated_annealing(problem: IsingProblem, *, replicas: int = 64, steps: int = 1000,
                        beta_range: tuple[float, float] | None = None, time_limit: float | None = None,
                        target_energy: float | None = None, device: str = "auto", seed: int | None = 0,
                        dtype: torch.dtype = torch.float32, polish: bool = True, best_only: bool = False,
                        check_every: int | None = None, progress: bool | None = None) -> SolveResult:
    """``steps`` Metropolis sweeps per anneal, ``replicas`` independent chains."""
    dev = check_common(problem, replicas, steps, time_limit, device)
    n, R = problem.n, int(replicas)
    b0, b1 = problem.beta_range() if beta_range is None else map(float, beta_range)
    betas = np.geomspace(b0, b1, steps) if steps > 1 else np.array([b1])
    blk = _Blocks(problem, dev, dtype)
    inv = torch.as_tensor(np.argsort(blk.perm), device=dev)
    g = make_generator(seed, dev)
    tr = Tracker(problem, "sa", steps, target_energy, time_limit, progress)
    every = check_interval(steps, check_every)
    h = blk.h
    spans = list(zip(blk.bounds[:-1], blk.bounds[1:]))

    def one_run():
        S = torch.where(torch.rand(n, R, generator=g, device=dev) < 0.5, 1.0, -1.0).to(dtype)
        for k in range(steps):
            beta = float(betas[k])
            for (a, b), Jb in zip(spans, blk.blocks):
                s = S[a:b]
                dE = (Jb @ S).add_(h[a:b]).mul_(s).mul_(-2.0)  # ΔE of flipping = -2 s (h + J s)
                u = torch.rand(b - a, R, generator=g, device=dev, dtype=dtype)
                flip = u.log_() < dE.mul_(-beta)          # accept iff log u < -β ΔE
                s.mul_(1.0 - 2.0 * flip.to(dtype))            # in place on the view S[a:b]
            tr.tick()
            if (k + 1) % every == 0 or k == steps - 1:
                if tr.observe(S[inv]):
                    break
        return tr.finish_run(S[inv], polish)

    states, energies = run_restarts(one_run, tr, time_limit)
    return tr.result(states, energies, best_only, {"beta_range": [b0, b1], "num_colors": blk.num_colors,
                                                   "device": str(dev)})
