"""Simulated bifurcation (Goto et al., Sci. Adv. 2019 / 2021): ballistic (bSB) and discrete (dSB).

Oscillators ``x, y`` per spin and replica; pump ``a(t)`` ramps 0 -> a0 = 1;
``y += [-(a0 - a(t)) x - ξ0 (J f(x) + h)] dt``, ``x += a0 y dt``, walls at ``|x| > 1``
(``x = sign(x)``, ``y = 0``); ``f = id`` (bSB) or ``sign`` (dSB).
``ξ0 = 0.7 / (σ √N)`` with σ the coupling standard deviation (for bSB capped so that the
step stays stable along J's top eigenvector, which matters for all-positive graphs like G1). Optional heating
(Kanao & Goto 2022): ``y += heat · dt · y_prev``.

dSB on the CPU may run the compiled kernel (:mod:`qbnn.solvers.sb_kernel`: per-replica fields
updated along the CSR rows of flipped spins) instead of the torch path (``kernel=``).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from qbnn.errors import QbnnError
from qbnn.solvers.base import (Tracker, auto_threads, check_common, check_interval, make_generator, numba_threads,
                               run_restarts)
from qbnn.solvers.problem import IsingProblem, SolveResult
from qbnn.solvers.sb_kernel import CompiledDSB

#: kernel='auto' runs compiled dSB on the CPU for at most 2 replicas, or up to this many replicas
#: where the mean degree (stored couplings per spin) is at most DSB_COMPILED_MAX_DEGREE; a flip
#: costs a row of the CSR matrix, so dense rows favour the batched torch product (measured on G1,
#: G14, G62: docs/solvers.md)
DSB_COMPILED_MAX_REPLICAS, DSB_COMPILED_MAX_DEGREE = 64, 16


def _sign(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)


@auto_threads
def simulated_bifurcation(problem: IsingProblem, *, discrete: bool = False, replicas: int = 64, steps: int = 1000,
                          dt: float | None = None, xi0: float | None = None, heat: float = 0.0,
                          time_limit: float | None = None, target_energy: float | None = None,
                          device: str = "auto", seed: int | None = 0, dtype: torch.dtype = torch.float32,
                          polish: bool = True, best_only: bool = False, check_every: int | None = None,
                          progress: bool | None = None, checkpoint=None, kernel: str = "auto") -> SolveResult:
    """``kernel`` (dSB only): ``'compiled'`` (numba, CPU, float64; :mod:`qbnn.solvers.sb_kernel`),
    ``'torch'`` or ``'auto'`` (:func:`compiled_dsb_pays`)."""
    dev = check_common(problem, replicas, steps, time_limit, device)
    if kernel not in ("auto", "compiled", "torch"):
        raise QbnnError(f"unknown SB kernel {kernel!r} (choose auto, compiled or torch)")
    if kernel == "compiled" and (not discrete or dev.type != "cpu"):
        raise QbnnError("the compiled SB kernel is dSB on the CPU (use kernel='torch')")
    name = "dsb" if discrete else "sb"
    n, R = problem.n, int(replicas)
    dt = (1.25 if discrete else 1.0) if dt is None else float(dt)
    a0 = 1.0
    if xi0 is None:
        xi = 0.7 / (problem.coupling_std() * math.sqrt(n))
        if True:  # keep the symplectic step stable along J's top eigenvector: (a0 + ξλ) dt² < 4
            lmax = problem.max_eigenvalue()
            if lmax > 0:
                xi = min(xi, 0.9 * (4.0 / dt ** 2 - a0) / lmax)
    else:
        xi = float(xi0)
    g = make_generator(seed, dev)
    tr = Tracker(problem, name, steps, target_energy, time_limit, progress, checkpoint)
    every = check_interval(steps, check_every)
    info = {"xi0": xi, "dt": dt, "device": str(dev), "heat": heat}
    if kernel == "compiled" or (kernel == "auto" and discrete and dev.type == "cpu" and compiled_dsb_pays(problem, R)):
        states, energies = _compiled_dsb(problem, R, steps, a0, xi, dt, heat, g, tr, every, polish, time_limit)
        return tr.result(states, energies, best_only, dict(info, kernel="compiled"))
    ops = problem.ops(dev, dtype)
    h = ops.h

    def one_run():
        x, y = _initial(n, R, g, dev, dtype)
        force = torch.empty_like(x)
        for k in range(tr.resume(g, x, y), steps):
            a = a0 * (k / steps)
            f = _sign(x) if discrete else x
            force = ops.mm(f)
            force.add_(h)
            # y += (-(a0 - a) x - xi force) dt (+ heat dt y)
            if heat:
                y.mul_(1.0 + heat * dt)
            y.add_(x, alpha=-(a0 - a) * dt).add_(force, alpha=-xi * dt)
            x.add_(y, alpha=a0 * dt)
            wall = x.abs() > 1.0
            x.clamp_(-1.0, 1.0)
            y.masked_fill_(wall, 0.0)
            tr.tick()
            if (k + 1) % every == 0 or k == steps - 1:
                if tr.observe(_sign(x)):
                    break
            tr.save(k + 1, g, x, y)
        return tr.finish_run(_sign(x), polish)

    states, energies = run_restarts(one_run, tr, time_limit)
    return tr.result(states, energies, best_only, dict(info, kernel="torch"))


def compiled_dsb_pays(problem: IsingProblem, replicas: int) -> bool:
    """kernel='auto' on the CPU: the compiled dSB kernel for 1-2 replicas, or up to
    ``DSB_COMPILED_MAX_REPLICAS`` where the mean degree is at most ``DSB_COMPILED_MAX_DEGREE``."""
    degree = problem.J.nnz / max(problem.n, 1)
    return replicas <= 2 or (replicas <= DSB_COMPILED_MAX_REPLICAS and degree <= DSB_COMPILED_MAX_DEGREE)


def _initial(n, R, g, dev, dtype):
    """Initial x, y (n, R): uniform in ±0.1 (the compiled path draws the same at float64)."""
    x = (torch.rand(n, R, generator=g, device=dev, dtype=dtype) - 0.5) * 0.2
    y = (torch.rand(n, R, generator=g, device=dev, dtype=dtype) - 0.5) * 0.2
    return x, y


def _compiled_dsb(problem, R, steps, a0, xi, dt, heat, g, tr, every, polish, time_limit):
    """dSB anneals on the compiled kernel (:mod:`qbnn.solvers.sb_kernel`), same restarts, checks
    every ``every`` steps and checkpoints (x, y as (R, n) float64) as the torch path."""
    machine = CompiledDSB(problem, R)
    tensors = (torch.from_numpy(machine.x), torch.from_numpy(machine.y))

    def one_run():
        x, y = _initial(problem.n, R, g, torch.device("cpu"), torch.float64)
        machine.x[:], machine.y[:] = x.T.numpy(), y.T.numpy()
        k = tr.resume(g, *tensors)
        machine.start(machine.x, machine.y)
        ckpt = tr.ckpt
        while k < steps:
            end = min(steps, (k // every + 1) * every)
            if ckpt is not None:
                end = min(end, (k // ckpt.every + 1) * ckpt.every)
            machine.steps(k, end - k, steps, a0, xi, dt, heat)
            tr.tick(end - k)
            k = end
            if k % every == 0 or k == steps:
                tr.observe_numpy(machine.s, np.asarray(problem.energy(machine.s)))
                if tr.should_stop():
                    break
            tr.save(k, g, *tensors)
        return tr.finish_run(torch.from_numpy(machine.s.T.astype(np.float32)), polish)

    with numba_threads(R):
        return run_restarts(one_run, tr, time_limit)


def ballistic_sb(problem: IsingProblem, **kw) -> SolveResult:
    """Ballistic simulated bifurcation (bSB)."""
    return simulated_bifurcation(problem, discrete=False, **kw)


def discrete_sb(problem: IsingProblem, **kw) -> SolveResult:
    """Discrete simulated bifurcation (dSB)."""
    return simulated_bifurcation(problem, discrete=True, **kw)
