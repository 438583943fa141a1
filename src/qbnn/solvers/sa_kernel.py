"""Compiled CPU Metropolis kernel for simulated annealing (numba), CSR couplings.

Like dwave-samplers' C++ annealer: spins update one at a time in index order, each replica keeps
its local fields ``F = h + J s`` and updates them along the CSR row of a flipped spin, so a sweep
costs O(n + flips × degree) and memory is O(nnz + n × replicas), never O(n²). Differences:

* replicas run in parallel (``prange``) over the cores; each has its own xorshift64* stream
  seeded from (seed, replica), so a seed and a step budget give the same spins whatever the
  thread count (``numba.set_num_threads``);
* each replica keeps its energy, so an anneal stops at the sweep a replica reaches the target
  (the other replicas stop at their next sweep);
* as dwave's, a move that leaves the energy unchanged is always taken and the sweep order is
  fixed. Known weak spot: on a bare ring (degree 2) such moves carry domain walls along the
  sweep order and two walls rarely meet (an even 40-ring: cut 34-38 of 40 in 10 of 10 seeds).
  Taking them with probability 1/2, or starting each sweep at a random spin, fixed the ring
  but slowed G-set graphs to 0.1 % (coin: G11 15x, G14 3.5x; random start: G14 2.9x, G1 2.6x;
  medians of 5-6 seeds side by side, load 14-17), so neither is done;
* with ``keep_best`` (the :func:`qbnn.solvers.sa.sa_schedule` choice) an anneal returns the best
  state a replica visited at a sweep's end where that is better than its last: the cold end can
  leave a worse state than one passed on the way (G18). Off by default, since a fixed-temperature
  run must return its last state to sample its Boltzmann distribution;
* the descent polish is a zero-temperature sweep here too (no colouring needed).

Compiled on first use with ``cache=True`` (about 2-4 s cold here, then loaded from
``__pycache__``; docs/solvers.md).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit, prange

#: a flip with β·ΔE above this is never taken (exp(-44.4) < 2^-64: dwave-samplers' cut-off)
MAX_BETA_DELTA = 44.36142

_MASK = (1 << 64) - 1


def seed_streams(seed: int, replicas: int) -> np.ndarray:
    """Nonzero xorshift64* states, one per replica, from splitmix64 of (seed, replica)."""
    out = np.empty(replicas, dtype=np.uint64)
    for r in range(replicas):
        z = (int(seed) * 0x9E3779B97F4A7C15 + (r + 1) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        z ^= z >> 31
        out[r] = z or 0x2545F4914F6CDD1D
    return out


@njit(inline="always")
def _next(x):
    """xorshift64* step -> (new state, 53-bit uniform in [0, 1))."""
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    y = x * np.uint64(0x2545F4914F6CDD1D)
    return x, (y >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(inline="always")
def _next32(x):
    """xorshift64* step -> (new state, uniform 32-bit integer as uint64)."""
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    return x, (x * np.uint64(0x2545F4914F6CDD1D)) >> np.uint64(32)


@njit(cache=True, parallel=True)
def random_start(indptr, indices, data, h, spins, fields, rng):
    """Uniform random ±1 ``spins`` (R, n) from each replica's stream, and their fields ``h + J s``."""
    R, n = spins.shape
    for r in prange(R):
        x = rng[r]
        for i in range(n):
            x, u = _next(x)
            spins[r, i] = 1 if u < 0.5 else -1
        rng[r] = x
        for i in range(n):
            f = h[i]
            for p in range(indptr[i], indptr[i + 1]):
                f += data[p] * spins[r, indices[p]]
            fields[r, i] = f


@njit(cache=True, parallel=True)
def anneal(indptr, indices, data, betas, spins, fields, energies, rng, target, stop, scale=1.0, thresholds=None,
           best_spins=None, best_energies=None):
    """One Metropolis sweep per entry of ``betas`` on every replica, in place.

    ``energies`` (R,) track each replica's energy; a replica at or below ``target`` sets
    ``stop[0]`` and every replica leaves at its next sweep. Returns nothing; sweeps done per
    replica go to ``stop[1 + r]``.

    Float couplings: ``thresholds`` None, a move of ΔE > 0 is taken iff ``u < exp(-βΔE)``.
    Integer couplings (``data``, ``fields``, ``energies``, ``target`` in units of ``1/scale``,
    ints): ``thresholds`` is an (R, top + 1) uint64 work table, ``top`` the largest |ΔE| any
    spin can have (:func:`delta_bound`); each sweep fills it with ``2^32·exp(-β k/scale)`` for
    k up to the cut-off and a move of ΔE = k units is taken iff a 32-bit random integer is below
    entry k (a lookup instead of an ``exp`` per spin). numba compiles the two cases separately
    (the ``thresholds is None`` branches are pruned at compile time).

    ``best_spins`` (R, n) / ``best_energies`` (R,), if given: after every sweep a replica whose
    energy is below its ``best_energies`` entry copies its spins there (the best state an anneal
    visits at a sweep's end; the last state can be worse at the cold end)."""
    R, n = spins.shape
    for r in prange(R):
        x = rng[r]
        e = energies[r]
        done = 0
        for k in range(betas.shape[0]):
            if stop[0] != 0:
                break
            beta = betas[k] / scale
            if thresholds is None:
                cut = MAX_BETA_DELTA / beta
            else:
                cut = min(thresholds.shape[1] - 1, int(MAX_BETA_DELTA / beta))
                for d in range(cut + 1):
                    thresholds[r, d] = np.uint64(math.exp(-beta * d) * 4294967296.0)
            for i in range(n):
                s = spins[r, i]
                de = -2 * s * fields[r, i]
                if de > 0:
                    if thresholds is None:
                        if de >= cut:
                            continue
                        x, u = _next(x)
                        if math.exp(-beta * de) <= u:
                            continue
                    else:
                        if de > cut:
                            continue
                        x, v = _next32(x)
                        if v >= thresholds[r, de]:
                            continue
                spins[r, i] = -s
                e += de
                d = -2 * s
                for p in range(indptr[i], indptr[i + 1]):
                    fields[r, indices[p]] += d * data[p]
            done += 1
            if best_spins is not None and e < best_energies[r]:
                best_energies[r] = e
                for i in range(n):
                    best_spins[r, i] = spins[r, i]
            if e <= target:
                stop[0] = 1
        rng[r] = x
        energies[r] = e
        stop[1 + r] = done


@njit(cache=True, parallel=True)
def descend(indptr, indices, data, spins, fields, energies):
    """Zero-temperature sweeps (flip iff ΔE < 0) until no spin of a replica flips: every replica
    ends at a single-flip local minimum."""
    R, n = spins.shape
    for r in prange(R):
        e = energies[r]
        moved = True
        while moved:
            moved = False
            for i in range(n):
                s = spins[r, i]
                de = -2.0 * s * fields[r, i]
                if de < -1e-12:
                    spins[r, i] = -s
                    e += de
                    moved = True
                    d = -2.0 * s
                    for p in range(indptr[i], indptr[i + 1]):
                        fields[r, indices[p]] += d * data[p]
        energies[r] = e


#: spin updates per kernel call: between calls the driver checks the time limit (~5-20 ms here)
CHUNK_UPDATES = 1 << 20
#: integer kernel: couplings times a power of two up to this are integers ...
MAX_SCALE = 1 << 10
#: ... and no spin's |ΔE| exceeds this many units (the per-sweep threshold table stays small)
MAX_TABLE = 1 << 16


def delta_bound(problem) -> float:
    """The largest |ΔE| of a single flip: ``2·max_i(|h_i| + Σ_j |J_ij|)``."""
    return 2.0 * float((np.abs(problem.h) + np.asarray(abs(problem.J).sum(axis=1)).ravel()).max(initial=0.0))


def integer_scale(problem) -> int | None:
    """Smallest power of two ``q <= MAX_SCALE`` making all of ``q·J``, ``q·h`` integers with the
    largest |ΔE| (:func:`delta_bound`) at most ``min(MAX_TABLE, max(256, n))`` units ``1/q``
    (the per-sweep threshold table stays short against a sweep); else None."""
    J, h = problem.J, problem.h
    reach = delta_bound(problem)
    q = 1
    while q <= MAX_SCALE:
        if reach * q > min(MAX_TABLE, max(256, problem.n)):
            return None
        if np.all(np.rint(J.data * q) == J.data * q) and np.all(np.rint(h * q) == h * q):
            return q
        q *= 2
    return None


class CompiledAnneal:
    """State of the compiled path across the anneals of one solve: CSR arrays, per-replica spins
    (R, n) int8, fields, energies and RNG streams. ``run(betas, tracker)`` anneals once from a
    fresh random state and returns (states (R, n) int8, exact float64 energies).

    Integer problems (G-set graphs; QUBOs with integer coefficients: couplings in quarters) run
    :func:`anneal` in int32 units of ``1/scale`` with a threshold table, others in float64."""

    def __init__(self, problem, replicas: int, seed: int, polish: bool, keep_best: bool = False):
        J = problem.J
        self.problem = problem
        self.indptr, self.indices = J.indptr, J.indices
        n, R = problem.n, int(replicas)
        self.scale = integer_scale(problem)
        kind = np.float64 if self.scale is None else np.int32
        q = 1.0 if self.scale is None else float(self.scale)
        self.data = np.ascontiguousarray(np.rint(J.data * q) if self.scale else J.data, dtype=kind)
        self.h = np.ascontiguousarray(np.rint(problem.h * q) if self.scale else problem.h, dtype=kind)
        self.spins = np.empty((R, n), dtype=np.int8)
        self.fields = np.empty((R, n), dtype=kind)
        self.energies = np.empty(R, dtype=np.float64 if self.scale is None else np.int64)
        self.rng = seed_streams(seed, R)
        # keep_best: the best state each replica visits at a sweep's end, returned where better than its last
        self.best_spins = np.empty_like(self.spins) if keep_best else None
        self.best_energies = np.empty_like(self.energies) if keep_best else None
        # integer kernel's per-replica table of acceptance thresholds, one entry per |ΔE| in units
        top = 0 if self.scale is None else int(round(delta_bound(problem) * self.scale))
        self.thresholds = None if self.scale is None else np.empty((R, top + 1), dtype=np.uint64)
        self.polish = polish
        self.chunk = max(1, CHUNK_UPDATES // max(1, n * R))

    def units(self, energies):
        """Energies as the kernel keeps them: float64, or int64 multiples of ``1/scale`` less the
        offset (which need not be a multiple)."""
        if self.scale is None:
            return np.asarray(energies, dtype=np.float64)
        return np.rint((np.asarray(energies) - self.problem.offset) * self.scale).astype(np.int64)

    def _fresh_fields(self):
        """``h + J s`` of the current spins in the kernel's units."""
        p = self.problem
        F = (p.h + (p.J @ self.spins.T.astype(np.float64)).T) * (self.scale or 1)
        return np.rint(F) if self.scale else F

    def run(self, betas: np.ndarray, tracker, g=None):
        """One anneal from a fresh random state, or from the tracker's checkpoint (spins and RNG
        streams are its tensors; ``g`` the torch generator it carries the seed with)."""
        p = self.problem
        csr = (self.indptr, self.indices, self.data)
        random_start(*csr, self.h, self.spins, self.fields, self.rng)
        keep = self.best_spins is not None
        if keep:
            self.best_spins[:] = self.spins
        k0, ckpt = 0, tracker.ckpt
        tensors = ()
        if ckpt is not None:  # the best visited state (if kept) travels with the spins and streams
            tensors = (torch.from_numpy(self.spins), torch.from_numpy(self.rng.view(np.int64)))
            tensors += (torch.from_numpy(self.best_spins),) if keep else ()
            k0 = tracker.resume(g, *tensors)
            if k0:
                self.fields[:] = self._fresh_fields()
        self.energies[:] = self.units(p.energy(self.spins))
        if keep:
            self.best_energies[:] = self.units(p.energy(self.best_spins))
        stop = np.zeros(1 + self.spins.shape[0], dtype=np.int64)
        betas = np.ascontiguousarray(betas, dtype=np.float64)
        if self.scale is None:  # running float energies: a margin for rounding
            t = -math.inf if tracker.target is None else tracker.target + 1e-9 * (1.0 + abs(tracker.target))
        else:
            t = -2 ** 62 if tracker.target is None else math.floor((tracker.target - p.offset) * self.scale + 1e-6)
        step = self.chunk if ckpt is None else max(1, min(self.chunk, ckpt.every))
        k = k0
        while k < len(betas):
            end = min(len(betas), (k // step + 1) * step)
            if ckpt is not None:  # chunks end on every checkpoint step (the result does not depend on them)
                end = min(end, (k // ckpt.every + 1) * ckpt.every)
            anneal(*csr, betas[k:end], self.spins, self.fields, self.energies, self.rng, t, stop,
                   float(self.scale or 1), self.thresholds, self.best_spins, self.best_energies)
            tracker.tick(int(stop[1:].max()))
            k = end
            if stop[0] or tracker.out_of_time():
                break
            if ckpt is not None:
                tracker.save(k, g, *tensors)
        back = self.best_energies < self.energies if keep else None  # visited a better state than its last
        if keep and np.any(back):
            self.spins[back] = self.best_spins[back]
            self.energies[back] = self.best_energies[back]
            self.fields[:] = self._fresh_fields()
        if self.polish:
            descend(*csr, self.spins, self.fields, self.energies)
        states = self.spins.copy()
        energies = np.asarray(p.energy(states), dtype=np.float64)
        tracker.observe_numpy(states, energies)
        return states, energies
