"""Compiled CPU kernel for momentum annealing (numba), CSR couplings.

Each layer of MA updates all its spins from the other layer's local fields ``J σ`` (a Jacobi
step), so each replica keeps the fields of both layers, ``FL = J σ^L`` and ``FR = J σ^R``, and
adds ``±2 J_ij`` along the CSR row of every spin that flips, as the SA and dSB kernels do. A
step then costs O(n + flips × degree) per replica instead of the torch path's two sparse
products O(nnz) per replica; memory is O(nnz + n × replicas), never O(n²).

The update rule, schedules and momentum are the torch path's (:func:`qbnn.solvers.ma.momentum_annealing`),
in float64 and in the same operation order; fed the torch path's random draws, a run follows
it step for step (``tests/test_ma_kernel.py``). Every spin draws its noise variate, even where
the outcome is already fixed (``(T/2) ln u`` is never positive): skipping those draws made the
branch unpredictable and the kernel slower (G14, G62: 55-63 vs 39-52 ns per spin-step).

Randomness: each replica has its own xorshift64* stream seeded from (seed, replica)
(:func:`qbnn.solvers.sa_kernel.seed_streams`), drawn in a fixed order: the start (SL's spins,
then SR's unless it copies SL), then per step layer L then R and per spin the dropout variate
while dropout is on, then the noise variate. Replicas run in parallel (``prange``) on their own
arrays and streams, so a seed and a step count give the same spins whatever the thread count.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from qbnn.solvers.sa_kernel import _next, random_start, seed_streams


@njit(inline="always")
def _layer(indptr, indices, data, h, w0, own, other, f_other, f_own, c, p, half_t, paper, x, dm, du):
    """One layer's update of one replica (``own``, ``f_own`` in place) from the other layer;
    ``dm``/``du`` the dropout and noise variates per spin, or None to draw them from stream ``x``.
    Returns the stream state."""
    n = own.shape[0]
    for i in range(n):
        so = other[i]
        v = -(f_other[i] + h[i])
        b = w0[i] * c
        if p > 0.0:
            if dm is None:
                x, um = _next(x)
            else:
                um = dm[i]
            b = b * (1.0 if um >= p else 0.0)  # a select, not a branch: dropout is a coin flip
        if du is None:
            x, u = _next(x)
        else:
            u = du[i]
        lnu = math.log(max(u, 1e-30))
        if paper:  # Metropolis relative to the layer's own previous state
            v = (v + b * so) + (half_t * lnu) * own[i]
        else:
            v = v + (b + half_t * lnu) * so
        new = 1 if v > 0.0 else -1
        if new != own[i]:
            own[i] = new
            d = 2.0 * new
            for q in range(indptr[i], indptr[i + 1]):
                f_own[indices[q]] += d * data[q]
    return x


@njit(cache=True, parallel=True)
def ma_steps(indptr, indices, data, h, w0, betas, SL, SR, FL, FR, rng, first, count, steps, c0, dropout,
             paper, draws_mask=None, draws_noise=None):
    """Steps ``first .. first + count - 1`` of a ``steps``-step MA run on every replica, in place:
    layer L from R, then R from L, with momentum ``w0 c_k`` (``c_k = min(1, c0 + (1 - c0)
    sqrt(k / max(steps/2, 1)))``), dropout ``p_k`` (paper: ``max(0, dropout - k/steps)``, else
    ``dropout (1 - k/steps)``) and noise ``(0.5 / betas[k]) ln u``.

    ``draws_mask``/``draws_noise`` (count, 2, R, n) float64: the variates to use instead of the
    streams (tests feed the torch path's), layer 0 = L; None (the solver) draws from ``rng``."""
    R, n = SL.shape
    ramp = max(steps / 2.0, 1.0)
    for r in prange(R):
        x = rng[r]
        for k in range(first, first + count):
            c = min(1.0, c0 + (1.0 - c0) * math.sqrt(k / ramp))
            p = max(0.0, dropout - k / steps) if paper else dropout * (1.0 - k / steps)
            half_t = 0.5 / betas[k]
            if draws_noise is None:
                x = _layer(indptr, indices, data, h, w0, SL[r], SR[r], FR[r], FL[r], c, p, half_t, paper, x,
                           None, None)
                x = _layer(indptr, indices, data, h, w0, SR[r], SL[r], FL[r], FR[r], c, p, half_t, paper, x,
                           None, None)
            else:
                j = k - first
                x = _layer(indptr, indices, data, h, w0, SL[r], SR[r], FR[r], FL[r], c, p, half_t, paper, x,
                           draws_mask[j, 0, r], draws_noise[j, 0, r])
                x = _layer(indptr, indices, data, h, w0, SR[r], SL[r], FL[r], FR[r], c, p, half_t, paper, x,
                           draws_mask[j, 1, r], draws_noise[j, 1, r])
        rng[r] = x


class CompiledMA:
    """State of the compiled MA path for one solve: CSR arrays and ``h``, ``w0`` (float64), per
    replica both layers' spins (R, n) int8 and fields (R, n) float64, and the RNG streams."""

    def __init__(self, problem, replicas: int, seed: int, w0: np.ndarray):
        self.J = J = problem.J
        self.csr = (J.indptr, J.indices, np.ascontiguousarray(J.data, dtype=np.float64))
        self.h = np.ascontiguousarray(problem.h, dtype=np.float64)
        self.w0 = np.ascontiguousarray(w0, dtype=np.float64)
        n, R = problem.n, int(replicas)
        self.SL = np.empty((R, n), dtype=np.int8)
        self.SR = np.empty((R, n), dtype=np.int8)
        self.FL = np.empty((R, n))
        self.FR = np.empty((R, n))
        self.rng = seed_streams(seed, R)
        self.no_field = np.zeros(n)

    def random_start(self, same: bool) -> None:
        """Fresh uniform random layers from the streams, ``SL`` then ``SR`` (or ``SR = SL`` when
        ``same``), and their fields (SA's start, without ``h``)."""
        random_start(*self.csr, self.no_field, self.SL, self.FL, self.rng)
        if same:
            self.SR[:], self.FR[:] = self.SL, self.FL
        else:
            random_start(*self.csr, self.no_field, self.SR, self.FR, self.rng)

    def refresh(self) -> None:
        """Both layers' fields ``J σ`` from scratch (after the spins were set from outside)."""
        for S, F in ((self.SL, self.FL), (self.SR, self.FR)):
            F[:] = (self.J @ S.T.astype(np.float64)).T

    def steps(self, betas, first: int, count: int, steps: int, c0: float, dropout: float, paper: bool,
              draws=None) -> None:
        """Run steps ``first .. first + count - 1`` (``betas`` the whole run's); ``draws``: an optional
        (mask, noise) pair of (count, 2, R, n) float64 variates to use instead of the streams."""
        mask, noise = (None, None) if draws is None else draws
        ma_steps(*self.csr, self.h, self.w0, np.ascontiguousarray(betas, dtype=np.float64), self.SL, self.SR,
                 self.FL, self.FR, self.rng, int(first), int(count), int(steps), float(c0), float(dropout),
                 bool(paper), mask, noise)
