"""Shared machinery: best tracking, trace, early stop, restarts, progress, result assembly."""
from __future__ import annotations

import contextlib
import functools
import inspect
import math
import sys
import time

import numba
import numpy as np
import torch
from tqdm import tqdm

from qbnn.errors import QbnnError
from qbnn.solvers.polish import greedy_polish
from qbnn.solvers.problem import IsingProblem, SolveResult, resolve_device


def auto_threads(fn):
    """Run a CPU solver with one torch thread when the per-step work is small.

    On small problems (and on shared, loaded machines) intra-op threading costs far more than
    it saves (measured 0.12 ms vs 5.8 ms per G1 sparse matmul with 1 vs 2 threads under load).
    Pass ``threads=k`` to force k threads; the previous setting is restored afterwards. A solver
    with its own ``threads`` parameter (SA's compiled kernel) gets it passed on as well.
    """
    own = "threads" in inspect.signature(fn).parameters

    @functools.wraps(fn)
    def wrapper(problem, *args, threads: int | None = None, **kw):
        if own:
            kw["threads"] = threads
        dev = kw.get("device", "auto")
        is_cpu = str(dev) == "cpu" or (str(dev) == "auto" and not torch.cuda.is_available())
        if not is_cpu or not isinstance(problem, IsingProblem):
            return fn(problem, *args, **kw)
        work = (problem.J.nnz if not problem.prefers_dense else problem.n ** 2) * int(kw.get("replicas", 64))
        want = threads if threads is not None else (1 if work < 50_000_000 else torch.get_num_threads())
        old = torch.get_num_threads()
        torch.set_num_threads(max(1, int(want)))
        try:
            return fn(problem, *args, **kw)
        finally:
            torch.set_num_threads(old)

    return wrapper


@contextlib.contextmanager
def numba_threads(replicas: int):
    """A compiled kernel's threads: one per replica, at most numba's pool and torch's thread count
    (what :func:`auto_threads` chose); restored afterwards."""
    old = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(replicas), numba.config.NUMBA_NUM_THREADS, torch.get_num_threads())))
    try:
        yield
    finally:
        numba.set_num_threads(old)


def make_generator(seed: int | None, device: torch.device) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(int(seed) if seed is not None else int(torch.seed() % (2 ** 63)))
    return g


def check_common(problem, replicas: int, steps: int, time_limit, device) -> torch.device:
    if not isinstance(problem, IsingProblem):
        raise QbnnError("solvers take an IsingProblem (use IsingProblem.from_qubo / from_gset)")
    if int(replicas) < 1:
        raise QbnnError(f"replicas must be >= 1, got {replicas}")
    if int(steps) < 1:
        raise QbnnError(f"steps must be >= 1, got {steps}")
    if time_limit is not None and not (time_limit > 0):
        raise QbnnError(f"time limit must be > 0 seconds, got {time_limit}")
    return resolve_device(device)


class Tracker:
    """Tracks the best state across anneals; decides when to stop.

    Times (time limit, trace, seconds) are read from ``Tracker.clock``: wall time by default; a
    benchmark on a shared machine may set ``time.process_time`` (single-threaded runs: CPU seconds,
    which other processes' load does not inflate)."""

    clock = staticmethod(time.perf_counter)

    def __init__(self, problem: IsingProblem, solver: str, steps: int, target_energy=None, time_limit=None,
                 progress=None, checkpoint=None):
        self.problem, self.solver, self.steps = problem, solver, steps
        self.target = None if target_energy is None else float(target_energy)
        self.time_limit = time_limit
        self.t0 = self.clock()
        self.best_energy = math.inf
        self.best_state = None
        self.t_best = 0.0
        self.trace: list[tuple[int, float, float]] = []
        self.global_step = 0
        self.restarts = 0
        self.final = None  # best-of-restarts (states, energies), kept here so checkpoints carry it
        self.ckpt = checkpoint  # qbnn.solvers.checkpoint.Checkpoint or None
        if checkpoint is not None:
            checkpoint.attach(self)
        if progress is None:
            progress = sys.stderr.isatty() and problem.n * steps >= 10 ** 6
        self.bar = None
        if progress:
            self.bar = tqdm(total=steps if time_limit is None else None, desc=solver, unit="step", leave=False)

    def elapsed(self) -> float:
        return self.clock() - self.t0

    def reached(self) -> bool:
        return self.target is not None and self.best_energy <= self.target + 1e-9

    def out_of_time(self) -> bool:
        return self.time_limit is not None and self.elapsed() >= self.time_limit

    def should_stop(self) -> bool:
        return self.reached() or self.out_of_time()

    def tick(self, k: int = 1) -> None:
        self.global_step += k
        if self.bar is not None:
            self.bar.update(k)

    def resume(self, g: torch.Generator, *tensors: torch.Tensor) -> int:
        """Checkpoint hook at the start of an anneal: overwrite the freshly drawn ``tensors`` and
        ``g`` in place with the saved ones; returns the step to continue from (0 without one)."""
        return 0 if self.ckpt is None else self.ckpt.restore(g, tensors)

    def save(self, step: int, g: torch.Generator, *tensors: torch.Tensor) -> None:
        """Checkpoint hook after ``step`` completed steps: writes every ``checkpoint.every`` steps."""
        if self.ckpt is not None and self.ckpt.due(step, self.steps):
            self.ckpt.save(self, step, g, tensors)

    def observe(self, S: torch.Tensor) -> bool:
        """Check spins ``S`` (n, R) (signs); record improvements; return True to stop."""
        E = self.problem.energy_torch(S)
        i = int(torch.argmin(E))
        e = float(E[i])
        if e < self.best_energy - 1e-9:
            self.best_energy = e
            self.best_state = S[:, i].to("cpu", torch.int8).numpy().copy()
            self.t_best = self.elapsed()
            self.trace.append((self.global_step, self.t_best, e))
            if self.bar is not None:
                self.bar.set_postfix(best=f"{e:.6g}")
        return self.should_stop()

    def observe_numpy(self, states: np.ndarray, energies: np.ndarray) -> None:
        i = int(np.argmin(energies))
        e = float(energies[i])
        if e < self.best_energy - 1e-9:
            self.best_energy = e
            self.best_state = states[i].astype(np.int8).copy()
            self.t_best = self.elapsed()
            self.trace.append((self.global_step, self.t_best, e))

    def finish_run(self, S: torch.Tensor, polish: bool):
        """Polish final spins ``S`` (n, R); returns (states (R,n) int8, energies float64)."""
        states = S.t().to("cpu", torch.int8).numpy()
        if polish:
            deadline = None  # the time limit bounds the polish too (a small grace so it is never skipped)
            if self.time_limit is not None:
                left = self.time_limit - self.elapsed()  # greedy_polish takes a perf_counter deadline
                deadline = time.perf_counter() + max(left, 0.05 * self.time_limit)
            states = greedy_polish(self.problem, states, deadline=deadline)
        energies = self.problem.energy(states)
        self.observe_numpy(states, energies)
        return states, np.asarray(energies, dtype=np.float64)

    def result(self, states, energies, best_only: bool, info: dict | None = None) -> SolveResult:
        if self.bar is not None:
            self.bar.close()
        if best_only:
            states = self.best_state[None, :]
            energies = np.array([self.best_energy])
        return SolveResult(
            solver=self.solver, states=states, energies=energies, best_state=self.best_state,
            best_energy=self.best_energy, seconds=self.elapsed(), seconds_to_best=self.t_best,
            trace=self.trace, steps_done=self.global_step, restarts=self.restarts,
            reached_target=self.reached(), info=dict(info or {}, **self._ckpt_info()))

    def _ckpt_info(self) -> dict:
        if self.ckpt is None:
            return {}
        return {"checkpoint_writes": self.ckpt.writes, "resumed_from_step": self.ckpt.resumed_from}


def run_restarts(one_run, tracker: Tracker, time_limit, max_restarts: int | None = None):
    """Call ``one_run()`` (returns final (states, energies) of one anneal) until the target is
    reached, the time budget spent or ``max_restarts`` anneals done; with neither a time limit
    nor ``max_restarts``, exactly once.

    The best-of-restarts lives in ``tracker.final`` so a checkpoint restores it on resume."""
    while True:
        states, energies = one_run()
        if tracker.final is None or energies.min() < tracker.final[1].min():
            tracker.final = (states, energies)
        tracker.restarts += 1
        if tracker.reached() or tracker.out_of_time():
            break
        if (max_restarts is None and time_limit is None) or (max_restarts is not None
                                                             and tracker.restarts >= max_restarts):
            break
    return tracker.final


def check_interval(steps: int, check_every: int | None) -> int:
    if check_every is not None:
        return max(1, int(check_every))
    return max(1, steps // 50)
