"""Momentum annealing (Okuyama, Sonobe, Kawarabayashi & Yamaoka, PRE 100, 012111, 2019).

Two spin layers L, R coupled bipartitely through J plus a self-coupling ``w_i`` ("momentum")
between σ^L_i and σ^R_i; each layer updates all its spins at once given the other layer, as a
Metropolis step relative to its own previous value (Γ ~ Exp(1), written ``-ln u``):
``σ^L_i ← sgn( -(h_i + Σ_j J_ij σ^R_j) + c_k m_i w_i σ^R_i - (T_k/2) Γ_i σ^L_i )``.
As in the paper: ``w_i = Σ_j |J_ij| - ½ Σ_{j∈C} |J_ij|`` for ``i ∈ C = {i : λ ≥ Σ_j |J_ij|}``
and ``λ/2`` otherwise (λ the largest eigenvalue of J; large enough that the bipartite ground
state is the original one), times ``w_scale``; momentum ramp ``c_k = min(1, c0 + (1 - c0)
sqrt(k / (steps/2)))`` (paper: c0 = 0, full at step 1000 of 2000); dropout: ``m_i = 0`` with
probability ``p_k = max(0, p0 - k/steps)`` (paper: p0 = 0.5, off after half the steps);
temperature ``schedule='log'`` (paper): ``T_k = 1 / (β0 ln(1 + k))`` with β0 such that the last
step reaches the cold end of :meth:`IsingProblem.beta_range`; ``'geometric'``: geometric in β
over that range. Both layers start from independent random states.

``paper=True`` runs exactly that. The default (``paper=False``) is the variant that measured
better here (G1, 500 steps x 32 replicas, seed 1: mean cut 11,527 vs 11,350-11,510 for the paper
form under several β ranges / momentum scales; neither reaches 0.1 % of the best known):
``w_i = w_scale (Σ_j |J_ij| + |h_i|)``, full momentum from the start (``c0 = 1``), the Metropolis
noise taken relative to the other layer (``... + (w_i - (T_k/2) Γ_i) σ^R_i``), dropout
``p_k = p0 (1 - k/steps)`` (never off before the end), geometric β over the dwave-like range,
and both layers starting from the same random state. Its ``w_scale`` is
``DEFAULT_MOMENTUM_SCALE`` = 1.02, not 1: at exactly the row sums a spin whose neighbours all
push one way ties (``v = -(T/2) ln u > 0``), so the antiparallel pair of layers (``σ^L = -σ^R``,
each magnetised) is absorbing. On graphs of one weight sign long anneals locked into it: at
float64, G1 8 replicas x 4,000 steps 11 of 16 anneals, G14 8 x 2,000 16 of 16; the float32
torch path escaped on G1 only through rounding (``w + (T/2) ln u`` rounds to ``w`` when
``u`` is within ~1e-7 of 1) and still locked 9 of 16 on G14. At 1.02 none of those locked, and
mean cuts were not lower (G1 500 x 32: 11,530 vs 11,527; G11 548 vs 547; 2 seeds each).

On the CPU the compiled CSR kernel (:mod:`qbnn.solvers.ma_kernel`: per-replica fields of both
layers updated along the rows of flipped spins, its own seeded streams) may run instead of the
torch path (``kernel=``; ``'auto'``: :func:`compiled_ma_pays`).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from qbnn.errors import QbnnError
from qbnn.solvers.base import (Tracker, auto_threads, check_common, check_interval, make_generator, numba_threads,
                               run_restarts)
from qbnn.solvers.ma_kernel import CompiledMA
from qbnn.solvers.problem import IsingProblem, SolveResult
from qbnn.solvers.sa import resolve_betas

#: ``w_scale`` of the default form (module docstring): just above the row sums, so no spin ties
DEFAULT_MOMENTUM_SCALE = 1.02

#: kernel='auto' runs the compiled kernel on the CPU for up to MA_COMPILED_ANY_REPLICAS replicas,
#: or up to MA_COMPILED_MAX_REPLICAS where the mean degree (stored couplings per spin) is at most
#: MA_COMPILED_MAX_DEGREE. Measured (benchmarks/ma_kernel.py, one thread, CPU time; docs/solvers.md):
#: the compiled kernel's cost per spin-step does not fall with the replica count, the torch path's
#: batched products do; compiled was faster at 1-4 replicas on all 14 graphs (800-20,000 spins,
#: degree 4-300), at 8 up to degree 20, not reliably at 32-64, and mostly slower at 16 or more
MA_COMPILED_ANY_REPLICAS, MA_COMPILED_MAX_REPLICAS, MA_COMPILED_MAX_DEGREE = 4, 8, 24


def paper_momentum(problem: IsingProblem) -> np.ndarray:
    """Self-couplings ``w`` (float64 ``(n,)``) of Okuyama et al. 2019 (Eq. for w_i above)."""
    absJ = abs(problem.J)
    row = np.asarray(absJ.sum(axis=1)).ravel()
    lam = max(problem.max_eigenvalue(), 0.0)
    in_c = lam >= row - 1e-12
    w = row - 0.5 * np.asarray(absJ @ in_c.astype(np.float64)).ravel()
    return np.where(in_c, w, lam / 2.0)


def momentum_weights(problem: IsingProblem, paper: bool, w_scale: float = 1.0) -> np.ndarray:
    """``w_scale`` times the self-couplings (float64 ``(n,)``): :func:`paper_momentum`, or
    ``Σ_j |J_ij| + |h_i|`` (the default form)."""
    if paper:
        w0 = paper_momentum(problem)
    else:
        w0 = np.asarray(abs(problem.J).sum(axis=1)).ravel() + np.abs(problem.h)
    return w_scale * w0


def _inverse_temperatures(problem, beta_range, steps: int, schedule: str) -> tuple[np.ndarray, float, float]:
    b0, b1 = resolve_betas(problem, beta_range)
    k = np.arange(1, steps + 1, dtype=np.float64)
    if schedule == "log":
        betas = b1 * np.log1p(k) / math.log1p(steps)
    elif schedule == "geometric":
        betas = np.geomspace(b0, b1, steps) if steps > 1 else np.array([b1])
    else:
        raise QbnnError(f"unknown MA temperature schedule {schedule!r} (choose log or geometric)")
    return betas, b0, b1


@auto_threads
def momentum_annealing(problem: IsingProblem, *, replicas: int = 64, steps: int = 1000,
                       beta_range: tuple[float, float] | str | None = None, dropout: float = 0.5,
                       c0: float | None = None, w_scale: float | None = None, schedule: str | None = None,
                       paper: bool = False,
                       time_limit: float | None = None, target_energy: float | None = None, device: str = "auto",
                       seed: int | None = 0, dtype: torch.dtype = torch.float32, polish: bool = True,
                       best_only: bool = False, check_every: int | None = None,
                       progress: bool | None = None, checkpoint=None, kernel: str = "auto") -> SolveResult:
    """``kernel``: ``'compiled'`` (numba, CPU, float64; :mod:`qbnn.solvers.ma_kernel`), ``'torch'``
    or ``'auto'`` (:func:`compiled_ma_pays`)."""
    dev = check_common(problem, replicas, steps, time_limit, device)
    if kernel not in ("auto", "compiled", "torch"):
        raise QbnnError(f"unknown MA kernel {kernel!r} (choose auto, compiled or torch)")
    if kernel == "compiled" and dev.type != "cpu":
        raise QbnnError("the compiled MA kernel runs on the CPU (use kernel='torch')")
    n, R = problem.n, int(replicas)
    c0 = (0.0 if paper else 1.0) if c0 is None else float(c0)
    schedule = ("log" if paper else "geometric") if schedule is None else schedule
    betas, b0, b1 = _inverse_temperatures(problem, beta_range, steps, schedule)
    w_scale = (1.0 if paper else DEFAULT_MOMENTUM_SCALE) if w_scale is None else float(w_scale)
    w0 = momentum_weights(problem, paper, w_scale)
    g = make_generator(seed, dev)
    tr = Tracker(problem, "ma", steps, target_energy, time_limit, progress, checkpoint)
    every = check_interval(steps, check_every)
    info = {"beta_range": [b0, b1], "dropout": dropout, "schedule": schedule, "c0": c0, "paper": paper,
            "w_scale": w_scale, "device": str(dev)}
    if kernel == "compiled" or (kernel == "auto" and dev.type == "cpu" and compiled_ma_pays(problem, R)):
        machine = CompiledMA(problem, R, g.initial_seed(), w0)
        states, energies = _compiled_ma(machine, problem, betas, steps, c0, dropout, paper, g, tr, every, polish,
                                        time_limit)
        return tr.result(states, energies, best_only, dict(info, kernel="compiled"))
    w0 = torch.as_tensor(w0, dtype=dtype, device=dev).unsqueeze(1)
    ops = problem.ops(dev, dtype)
    h = ops.h
    ramp = max(steps / 2.0, 1.0)

    def update(other: torch.Tensor, own: torch.Tensor, k: int) -> torch.Tensor:
        c = min(1.0, c0 + (1.0 - c0) * math.sqrt(k / ramp))
        w = w0 * c
        p = max(0.0, dropout - k / steps) if paper else dropout * (1.0 - k / steps)
        if p > 0:
            w = w * (torch.rand(n, R, generator=g, device=dev, dtype=dtype) >= p)
        u = torch.rand(n, R, generator=g, device=dev, dtype=dtype).clamp_min_(1e-30)
        v = ops.mm(other).add_(h).neg_()
        if paper:  # Metropolis relative to the layer's own previous state; ln u = -Γ
            v.addcmul_(w, other).addcmul_(u.log_(), own, value=0.5 / float(betas[k]))
        else:
            v.addcmul_(w + (0.5 / float(betas[k])) * u.log_(), other)
        return torch.where(v > 0, 1.0, -1.0).to(dtype)

    def one_run():
        SL = torch.where(torch.rand(n, R, generator=g, device=dev) < 0.5, 1.0, -1.0).to(dtype)
        SR = torch.where(torch.rand(n, R, generator=g, device=dev) < 0.5, 1.0, -1.0).to(dtype) if paper \
            else SL.clone()
        for k in range(tr.resume(g, SL, SR), steps):
            SL = update(SR, SL, k)
            SR = update(SL, SR, k)
            tr.tick()
            if (k + 1) % every == 0 or k == steps - 1:
                if tr.observe(torch.cat([SL, SR], 1)):
                    break
            tr.save(k + 1, g, SL, SR)
        EL, ER = problem.energy_torch(SL), problem.energy_torch(SR)
        S = torch.where((EL <= ER)[None, :], SL, SR)
        return tr.finish_run(S, polish)

    states, energies = run_restarts(one_run, tr, time_limit)
    return tr.result(states, energies, best_only, dict(info, kernel="torch"))


def compiled_ma_pays(problem: IsingProblem, replicas: int) -> bool:
    """kernel='auto' on the CPU: the compiled kernel where it measured faster per spin-step than
    the torch path: few replicas at any degree, a few more on sparse graphs (``benchmarks/ma_kernel.py``)."""
    degree = problem.J.nnz / max(problem.n, 1)
    return replicas <= MA_COMPILED_ANY_REPLICAS or (replicas <= MA_COMPILED_MAX_REPLICAS
                                                    and degree <= MA_COMPILED_MAX_DEGREE)


def _compiled_ma(machine: CompiledMA, problem, betas, steps, c0, dropout, paper, g, tr, every, polish, time_limit):
    """MA anneals on the compiled kernel, with the torch path's restarts, checks every ``every``
    steps, early stop and checkpoints (both layers (R, n) int8 and the RNG streams)."""
    tensors = (torch.from_numpy(machine.SL), torch.from_numpy(machine.SR), torch.from_numpy(machine.rng.view(np.int64)))
    R = machine.SL.shape[0]

    def one_run():
        machine.random_start(same=not paper)
        k = tr.resume(g, *tensors)
        if k:
            machine.refresh()
        ckpt = tr.ckpt
        while k < steps:
            end = min(steps, (k // every + 1) * every)
            if ckpt is not None:
                end = min(end, (k // ckpt.every + 1) * ckpt.every)
            machine.steps(betas, k, end - k, steps, c0, dropout, paper)
            tr.tick(end - k)
            k = end
            if k % every == 0 or k == steps:
                both = np.concatenate([machine.SL, machine.SR])
                tr.observe_numpy(both, np.asarray(problem.energy(both)))
                if tr.should_stop():
                    break
            tr.save(k, g, *tensors)
        EL, ER = problem.energy(machine.SL), problem.energy(machine.SR)
        S = np.where((EL <= ER)[:, None], machine.SL, machine.SR)
        return tr.finish_run(torch.from_numpy(S.T.astype(np.float32)), polish)

    with numba_threads(R):
        return run_restarts(one_run, tr, time_limit)
