"""Batched Metropolis simulated annealing.

Spins are greedily graph-coloured; every colour class (an independent set) updates at once
for all replicas. The problem is permuted so classes are contiguous row blocks of J.
Geometric β schedule from :meth:`IsingProblem.beta_range` (dwave-samplers-like) unless given.
"""
from __future__ import annotations

import math
import warnings

import numba
import numpy as np
import torch

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")

from qbnn.errors import QbnnError
from qbnn.solvers.base import Tracker, auto_threads, check_common, check_interval, make_generator, run_restarts
from qbnn.solvers.coloring import colour_classes
from qbnn.solvers.problem import IsingProblem, SolveResult, resolve_device
from qbnn.solvers.sa_kernel import CompiledAnneal


#: kernel='auto' on the CPU: compiled up to this many replicas, torch above (measured crossover)
SA_COMPILED_MAX_REPLICAS = 8

#: SA schedule rule (see :func:`sa_schedule`), measured on G-set graphs (docs/solvers.md)
SA_FIRST_SWEEPS = 100
#: compiled CPU kernel: one chain per anneal, each restart 1.5x longer
SA_CPU_REPLICAS, SA_CPU_GROWTH = 1, 1.5
#: anneals without a time limit on the CPU (100 ... 3,844 sweeps: a fixed, deterministic step budget)
SA_CPU_ANNEALS_WITHOUT_LIMIT = 10
#: torch kernel (CUDA): replicas from the size, doubling restarts (not re-measured: no GPU lent)
SA_UPDATES_PER_SWEEP = 16_384
SA_MIN_REPLICAS, SA_MAX_REPLICAS = 2, 32
SA_RESTART_GROWTH = 2.0
SA_ANNEALS_WITHOUT_LIMIT = 7
#: β range rule of the schedule (IsingProblem.beta_range): 'ordering' cut CPU time to target 2-7x
#: against 'field' on the tuning graphs, random, planar and toroidal (docs/solvers.md)
SA_BETA_RULE = "ordering"
#: the compiled kernel returns each anneal's best visited state (sweep ends): the cold end of an
#: anneal on a ±1 planar graph can leave a worse state than one it passed (G18; docs/solvers.md)
SA_CPU_KEEP_BEST = True


def sa_schedule(problem: IsingProblem, time_limit: float | None = None, device: str = "auto") -> dict:
    """SA options (replicas, steps, beta_range, restart_growth, max_restarts) for a problem: a
    rule over the problem and device, not per-instance tuning (``qbnn maxcut`` uses it).

    CPU (compiled kernel): one replica per anneal, a first anneal of ``SA_FIRST_SWEEPS`` sweeps,
    each restart ``SA_CPU_GROWTH`` times longer. One chain: the time a target takes is the
    anneal length an instance needs times the tries it needs, and a second replica (even on a
    second thread) did not shorten either on a loaded 2-core machine; growth 1.5 rather than 2
    spends less time past the length a graph needs (tuned on G1, G11, G14, G43, G48, G62;
    docs/solvers.md). Without ``time_limit``: ``SA_CPU_ANNEALS_WITHOUT_LIMIT`` anneals.

    CUDA (torch kernel, all replicas per op): the power of two nearest ``SA_UPDATES_PER_SWEEP /
    n`` replicas within [2, 32], doubling restarts, ``SA_ANNEALS_WITHOUT_LIMIT`` anneals without
    a time limit. β range ``SA_BETA_RULE`` (``'ordering'``: the hot end just below the ordering
    temperature) on both."""
    if resolve_device(device).type == "cpu":
        return {"replicas": SA_CPU_REPLICAS, "steps": SA_FIRST_SWEEPS, "beta_range": SA_BETA_RULE,
                "restart_growth": SA_CPU_GROWTH, "keep_best": SA_CPU_KEEP_BEST,
                "max_restarts": None if time_limit is not None else SA_CPU_ANNEALS_WITHOUT_LIMIT}
    want = SA_UPDATES_PER_SWEEP / max(problem.n, 1)
    replicas = int(min(SA_MAX_REPLICAS, max(SA_MIN_REPLICAS, 2 ** round(math.log2(want)))))
    return {"replicas": replicas, "steps": SA_FIRST_SWEEPS, "beta_range": SA_BETA_RULE,
            "restart_growth": SA_RESTART_GROWTH,
            "max_restarts": None if time_limit is not None else SA_ANNEALS_WITHOUT_LIMIT}


class _Blocks:
    """Row blocks of the colour-permuted, negated ``-J`` (and ``-h``) on a device."""

    def __init__(self, problem: IsingProblem, dev, dtype):
        classes = colour_classes(problem)  # cached on the problem: polish sweeps the same classes
        self.perm = np.concatenate(classes)
        counts = [len(c) for c in classes]
        self.bounds = np.concatenate([[0], np.cumsum(counts)]).tolist()
        P = problem.J[self.perm][:, self.perm].tocsr()
        P = -P  # blocks hold -J and -h: the kernel wants -F = -(h + J s) (saves one op per class)
        self.h = torch.as_tensor(-problem.h[self.perm], dtype=dtype, device=dev).unsqueeze(1)
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


#: bits of the uniform variate u behind each Metropolis threshold ln(u)
THRESHOLD_BITS = 16


class ThresholdDraws:
    """Draws ``ln(u)``, ``u`` uniform on the 2^16 midpoints ``(k + ½) / 2^16``, by table lookup.

    torch's CPU generator costs ~5 ns per float and ``log_`` ~4 ns, together ~90 % of an SA
    sweep on a degree-4 graph (measured on G62, one thread). One 64-bit draw gives four 16-bit
    indices instead (~1.5 ns each) and a gather from a 65,536-entry table replaces the log
    (~1 ns). Acceptance probabilities are exact to ±2^-16; a move is never taken when
    ``exp(-βΔE) < 2^-17`` (βΔE > 11.8; dwave-samplers cuts at βΔE > 44)."""

    def __init__(self, count: int, device, dtype):
        size = 1 << THRESHOLD_BITS
        k = torch.arange(size, dtype=torch.float64)
        self.table = torch.log((k + 0.5) / size).to(device=device, dtype=dtype)
        self.count = int(count)
        self.bits = torch.empty((self.count + 3) // 4, dtype=torch.int64, device=device)
        self.index = torch.empty(self.count, dtype=torch.int32, device=device)

    def __call__(self, g: torch.Generator, out: torch.Tensor) -> torch.Tensor:
        """Fill the flat ``out`` (``count`` entries) with fresh draws of ln(u); returns ``out``."""
        # full 64-bit range (plain random_() leaves the top bit 0): four uniform 16-bit fields
        self.bits.random_(-2 ** 63, None, generator=g)
        self.index.copy_(self.bits.view(torch.int16)[:self.count]).bitwise_and_(0xFFFF)
        return torch.index_select(self.table, 0, self.index, out=out)


def resolve_betas(problem: IsingProblem, beta_range) -> tuple[float, float]:
    """(hot, cold) inverse temperatures: None/rule name -> ``problem.beta_range``, else the given pair."""
    if beta_range is None or isinstance(beta_range, str):
        return problem.beta_range(beta_range or "dwave")
    b0, b1 = map(float, beta_range)
    return b0, b1


@auto_threads
def simulated_annealing(problem: IsingProblem, *, replicas: int = 64, steps: int = 1000,
                        beta_range: tuple[float, float] | str | None = None, time_limit: float | None = None,
                        target_energy: float | None = None, device: str = "auto", seed: int | None = 0,
                        dtype: torch.dtype = torch.float32, polish: bool = True, best_only: bool = False,
                        check_every: int | None = None, progress: bool | None = None,
                        checkpoint=None, restart_growth: float = 1.0,
                        max_restarts: int | None = None, kernel: str = "auto",
                        threads: int | None = None, keep_best: bool = False) -> SolveResult:
    """``steps`` Metropolis sweeps per anneal, ``replicas`` independent chains.

    ``beta_range``: ``(hot, cold)``, or a rule of :meth:`IsingProblem.beta_range` (``'dwave'``, the
    default; ``'field'``, hot end about half the ordering β; ``'ordering'``, hot end just below the
    ordering temperature, the :func:`sa_schedule` choice).
    ``checkpoint``: a :class:`qbnn.solvers.checkpoint.Checkpoint` to write every N steps / resume from.
    ``restart_growth``: each restart (under a time limit) anneals this many times longer than the
    previous one, so a too-short first guess of ``steps`` costs at most a geometric series.
    ``max_restarts``: at most this many anneals, also without a time limit (a step budget: the
    result is then deterministic); default one anneal without a time limit, else unbounded.
    ``kernel``: ``'compiled'`` (numba, CPU: one spin at a time, replicas over the cores;
    :mod:`qbnn.solvers.sa_kernel`), ``'torch'`` (colour classes of all replicas per op; CPU or
    CUDA) or ``'auto'``: compiled on the CPU up to ``SA_COMPILED_MAX_REPLICAS`` replicas, else
    torch (per spin update the batched torch kernel is cheaper from 16 replicas on G1, G14 and a
    BNN QUBO, the compiled one up to 8; docs/solvers.md). ``threads``: the compiled kernel's threads
    (default all cores, at most one per replica). ``keep_best``: on the compiled kernel, each anneal
    returns the best state a replica passed at a sweep's end where that beats its last state
    (:func:`sa_schedule` turns it on; off, a fixed-temperature run samples its distribution); the
    torch kernel does not track it, and the result's ``info['keep_best']`` says which applied."""
    dev = check_common(problem, replicas, steps, time_limit, device)
    if kernel not in ("auto", "compiled", "torch"):
        raise QbnnError(f"unknown SA kernel {kernel!r} (choose auto, compiled or torch)")
    if kernel == "compiled" and dev.type != "cpu":
        raise QbnnError("the compiled SA kernel runs on the CPU (use kernel='torch' on CUDA)")
    if max_restarts is not None and int(max_restarts) < 1:
        raise QbnnError(f"max_restarts must be >= 1, got {max_restarts}")
    if not restart_growth >= 1.0:
        raise QbnnError(f"restart_growth must be >= 1, got {restart_growth}")
    compiled = kernel == "compiled" or (kernel == "auto" and dev.type == "cpu" and int(replicas) <= SA_COMPILED_MAX_REPLICAS)
    if checkpoint is not None and restart_growth != 1.0:
        raise QbnnError("checkpoints need anneals of one length (restart_growth = 1)")
    n, R = problem.n, int(replicas)
    b0, b1 = resolve_betas(problem, beta_range)
    if compiled:
        return _compiled(problem, R, steps, (b0, b1), time_limit, target_energy, seed, polish, best_only,
                         progress, checkpoint, restart_growth, max_restarts, threads, keep_best)
    cache = problem.__dict__.setdefault("_sa_blocks", {})  # colouring + blocks, reused by later solves
    key = (str(dev), dtype)
    if key not in cache:
        cache[key] = _Blocks(problem, dev, dtype)
    blk = cache[key]
    inv = torch.as_tensor(np.argsort(blk.perm), device=dev)
    g = make_generator(seed, dev)
    tr = Tracker(problem, "sa", steps, target_energy, time_limit, progress, checkpoint)
    length = [int(steps)]  # sweeps of the next anneal
    h = blk.h
    spans = list(zip(blk.bounds[:-1], blk.bounds[1:]))

    pos = torch.tensor(1.0, dtype=dtype, device=dev)
    has_h = bool(np.any(problem.h != 0))
    draw = ThresholdDraws(n * R, dev, dtype)

    def one_run():
        steps = length[0]
        length[0] = int(math.ceil(steps * restart_growth))
        betas = _betas(b0, b1, steps)
        every = check_interval(steps, check_every)
        S = torch.where(torch.rand(n, R, generator=g, device=dev) < 0.5, 1.0, -1.0).to(dtype)
        U = torch.empty_like(S)
        Uflat = U.view(-1)
        # per-class views and matmul outputs made once: slicing and allocating per class cost
        # ~25 % of a G1 sweep at 8 replicas
        work = [(Jb, U[a:b], S[a:b], torch.empty(b - a, R, dtype=dtype, device=dev))
                for (a, b), Jb in zip(spans, blk.blocks)]
        for k in range(tr.resume(g, S), steps):
            # Metropolis: flip iff u < exp(-βΔE) with ΔE = -2 s F (F = h + J s) ⇔ s·F > T := ln(u)/(2β),
            # i.e. the new spin is +1 iff s·T - F >= 0. A class's spins only change at its own turn,
            # so U = S·T - h can be drawn for the whole sweep at once; each class then costs
            # addmm(U, -J_class, S) and a copysign. ln(u) comes from a 16-bit table (ThresholdDraws):
            # on sparse graphs uniform_() + log_() were ~90 % of a sweep.
            draw(g, Uflat)
            U.mul_(0.5 / float(betas[k])).mul_(S)
            if has_h:
                U.add_(h)  # h holds -h
            for Jb, Uc, Sc, Bc in work:
                torch.copysign(pos, torch.addmm(Uc, Jb, S, out=Bc), out=Sc)
            tr.tick()
            if (k + 1) % every == 0 or k == steps - 1:
                if tr.observe(S[inv]):
                    break
            tr.save(k + 1, g, S)
        return tr.finish_run(S[inv], polish)

    states, energies = run_restarts(one_run, tr, time_limit, max_restarts)
    return tr.result(states, energies, best_only, {"beta_range": [b0, b1], "num_colors": blk.num_colors,
                                                   "device": str(dev), "keep_best": False})


def _betas(b0: float, b1: float, steps: int) -> np.ndarray:
    """Geometric β schedule from hot ``b0`` to cold ``b1`` over ``steps`` sweeps."""
    return np.geomspace(b0, b1, steps) if steps > 1 else np.array([b1])


def _compiled(problem, R, steps, betas, time_limit, target_energy, seed, polish, best_only, progress,
              checkpoint, restart_growth, max_restarts, threads, keep_best=False) -> SolveResult:
    """The compiled kernel (:mod:`qbnn.solvers.sa_kernel`) with the same restarts and result."""
    seed = int(seed) if seed is not None else int(np.random.SeedSequence().entropy % (2 ** 63))
    g = make_generator(seed, torch.device("cpu"))  # carries the seed into checkpoints; draws nothing
    tr = Tracker(problem, "sa", steps, target_energy, time_limit, progress, checkpoint)
    machine = CompiledAnneal(problem, R, seed, polish, keep_best)
    length = [int(steps)]

    def one_run():
        sweeps = length[0]
        length[0] = int(math.ceil(sweeps * restart_growth))
        return machine.run(_betas(*betas, sweeps), tr, g)

    old = numba.get_num_threads()
    numba.set_num_threads(max(1, min(R, int(threads) if threads else numba.config.NUMBA_NUM_THREADS)))
    try:
        states, energies = run_restarts(one_run, tr, time_limit, max_restarts)
    finally:
        numba.set_num_threads(old)
    return tr.result(states, energies, best_only, {"beta_range": list(betas), "kernel": "compiled",
                                                   "device": "cpu", "keep_best": bool(keep_best)})
