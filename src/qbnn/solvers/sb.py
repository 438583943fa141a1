"""Simulated bifurcation (Goto et al., Sci. Adv. 2019 / 2021): ballistic (bSB) and discrete (dSB).

Oscillators ``x, y`` per spin and replica; pump ``a(t)`` ramps 0 -> a0 = 1;
``y += [-(a0 - a(t)) x - ξ0 (J f(x) + h)] dt``, ``x += a0 y dt``, walls at ``|x| > 1``
(``x = sign(x)``, ``y = 0``); ``f = id`` (bSB) or ``sign`` (dSB).
``ξ0 = 0.7 / (σ √N)`` with σ the coupling standard deviation (for bSB capped so that the
step stays stable along J's top eigenvector, which matters for all-positive graphs like G1). Optional heating
(Kanao & Goto 2022): ``y += heat · dt · y_prev``.
"""
from __future__ import annotations

import math

import torch

from qbnn.solvers.base import Tracker, auto_threads, check_common, check_interval, make_generator, run_restarts
from qbnn.solvers.problem import IsingProblem, SolveResult


def _sign(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)


@auto_threads
def simulated_bifurcation(problem: IsingProblem, *, discrete: bool = False, replicas: int = 64, steps: int = 1000,
                          dt: float | None = None, xi0: float | None = None, heat: float = 0.0,
                          time_limit: float | None = None, target_energy: float | None = None,
                          device: str = "auto", seed: int | None = 0, dtype: torch.dtype = torch.float32,
                          polish: bool = True, best_only: bool = False, check_every: int | None = None,
                          progress: bool | None = None, checkpoint=None) -> SolveResult:
    dev = check_common(problem, replicas, steps, time_limit, device)
    name = "dsb" if discrete else "sb"
    n, R = problem.n, int(replicas)
    ops = problem.ops(dev, dtype)
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
    h = ops.h

    def one_run():
        x = (torch.rand(n, R, generator=g, device=dev, dtype=dtype) - 0.5) * 0.2
        y = (torch.rand(n, R, generator=g, device=dev, dtype=dtype) - 0.5) * 0.2
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
    return tr.result(states, energies, best_only, {"xi0": xi, "dt": dt, "device": str(dev), "heat": heat})


def ballistic_sb(problem: IsingProblem, **kw) -> SolveResult:
    """Ballistic simulated bifurcation (bSB)."""
    return simulated_bifurcation(problem, discrete=False, **kw)


def discrete_sb(problem: IsingProblem, **kw) -> SolveResult:
    """Discrete simulated bifurcation (dSB)."""
    return simulated_bifurcation(problem, discrete=True, **kw)
