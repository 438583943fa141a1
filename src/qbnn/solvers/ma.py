"""Momentum annealing (Okuyama, Sonobe, Kawarabayashi & Yamaoka, PRE 100, 012111, 2019).

Two spin layers L, R coupled bipartitely through J plus a self-coupling ``w_i`` ("momentum")
between σ^L_i and σ^R_i; each layer updates all its spins in parallel given the other:
``σ^L_i = sgn( -(h_i + Σ_j J_ij σ^R_j) + w_i σ^R_i + (T/2) ln(u_i) σ^R_i )``
(a Metropolis step relative to σ^R_i, u uniform). ``w_i = c(k) · w0_i`` with
``w0_i = w_scale · (Σ_j |J_ij| + |h_i|)`` (large enough that the bipartite optimum is
symmetric; half of it lets antiferromagnetic graphs such as G1 lock into the two opposite
uniform layers), ``c(k) = c0 + (1 - c0) sqrt(k / steps)`` (paper: c0 = 0; default c0 = 1, which
worked better here); geometric temperature schedule from the
automatic β range; momentum dropout with probability ``p(k) = p0 (1 - k/steps)``.
"""
from __future__ import annotations

import numpy as np
import torch

from qbnn.solvers.base import Tracker, auto_threads, check_common, check_interval, make_generator, run_restarts
from qbnn.solvers.problem import IsingProblem, SolveResult


@auto_threads
def momentum_annealing(problem: IsingProblem, *, replicas: int = 64, steps: int = 1000,
                       beta_range: tuple[float, float] | None = None, dropout: float = 0.5, c0: float = 1.0, w_scale: float = 1.0,
                       time_limit: float | None = None, target_energy: float | None = None, device: str = "auto",
                       seed: int | None = 0, dtype: torch.dtype = torch.float32, polish: bool = True,
                       best_only: bool = False, check_every: int | None = None,
                       progress: bool | None = None, checkpoint=None) -> SolveResult:
    dev = check_common(problem, replicas, steps, time_limit, device)
    n, R = problem.n, int(replicas)
    ops = problem.ops(dev, dtype)
    b0, b1 = problem.beta_range() if beta_range is None else map(float, beta_range)
    temps = 1.0 / np.geomspace(b0, b1, steps) if steps > 1 else np.array([1.0 / b1])
    w0 = w_scale * (np.asarray(abs(problem.J).sum(axis=1)).ravel() + np.abs(problem.h))
    w0 = torch.as_tensor(w0, dtype=dtype, device=dev).unsqueeze(1)
    g = make_generator(seed, dev)
    tr = Tracker(problem, "ma", steps, target_energy, time_limit, progress, checkpoint)
    every = check_interval(steps, check_every)
    h = ops.h

    def update(other: torch.Tensor, k: int) -> torch.Tensor:
        c = min(1.0, c0 + (1.0 - c0) * (k / steps) ** 0.5)
        w = w0 * c
        p = dropout * (1.0 - k / steps)
        if p > 0:
            keep = torch.rand(n, R, generator=g, device=dev, dtype=dtype) >= p
            w = w * keep
        u = torch.rand(n, R, generator=g, device=dev, dtype=dtype).clamp_min_(1e-30)
        v = ops.mm(other).add_(h).neg_()
        v.addcmul_(w + (0.5 * float(temps[k])) * u.log_(), other)
        return torch.where(v > 0, 1.0, -1.0).to(dtype)

    def one_run():
        SR = torch.where(torch.rand(n, R, generator=g, device=dev) < 0.5, 1.0, -1.0).to(dtype)
        SL = SR.clone()
        for k in range(tr.resume(g, SL, SR), steps):
            SL = update(SR, k)
            SR = update(SL, k)
            tr.tick()
            if (k + 1) % every == 0 or k == steps - 1:
                if tr.observe(torch.cat([SL, SR], 1)):
                    break
            tr.save(k + 1, g, SL, SR)
        EL, ER = problem.energy_torch(SL), problem.energy_torch(SR)
        S = torch.where((EL <= ER)[None, :], SL, SR)
        return tr.finish_run(S, polish)

    states, energies = run_restarts(one_run, tr, time_limit)
    return tr.result(states, energies, best_only, {"beta_range": [b0, b1], "dropout": dropout, "device": str(dev)})
