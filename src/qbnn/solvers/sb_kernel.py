"""Compiled CPU kernel for discrete simulated bifurcation (dSB, numba), CSR couplings.

dSB's force on oscillator ``i`` is ``J sign(x) + h``: it changes only where a sign flips, so each
replica keeps its local fields ``F = J s`` (``s = sign x``, +1 at 0 as the torch path) and adds
``±2 J_ij`` along the CSR row of a flipped spin, as the SA kernel does. A step then costs
O(n + flips × degree) per replica instead of the torch path's sparse product O(nnz) per replica;
memory is O(nnz + n × replicas), never O(n²).

The update is the torch path's (:func:`qbnn.solvers.sb.simulated_bifurcation`), in float64 and
in the same order: every oscillator moves with the fields of the step's start (a Jacobi step),
then the flips of that step update the fields. With integer couplings (fields exact) a run
follows the torch path at float64 step for step from the same initial state
(``tests/test_sb_kernel.py``). Replicas run in parallel (``prange``), each on its own arrays, so
the result does not depend on the thread count.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def signs_and_fields(indptr, indices, data, x, s, fields):
    """``s = sign(x)`` (+1 at 0) and ``fields = J s`` for every replica, from scratch."""
    R, n = x.shape
    for r in prange(R):
        for i in range(n):
            s[r, i] = 1 if x[r, i] >= 0.0 else -1
        for i in range(n):
            f = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                f += data[p] * s[r, indices[p]]
            fields[r, i] = f


@njit(cache=True, parallel=True)
def dsb_steps(indptr, indices, data, h, x, y, s, fields, first, count, steps, a0, xi, dt, heat):
    """Steps ``first .. first + count - 1`` of a ``steps``-step dSB run on every replica, in place:
    ``y += -(a0 - a_k) x dt - ξ (F + h) dt`` (after ``y *= 1 + heat·dt`` when heating),
    ``x += a0 y dt``, walls at |x| > 1, then the fields follow the flipped signs. ``a_k = a0 k / steps``."""
    R, n = x.shape
    grow = 1.0 + heat * dt
    for r in prange(R):
        for k in range(first, first + count):
            c_x = -(a0 - a0 * (k / steps)) * dt
            c_f = -xi * dt
            for i in range(n):
                v = y[r, i]
                if heat != 0.0:
                    v = v * grow
                v = v + c_x * x[r, i]
                v = v + c_f * (fields[r, i] + h[i])
                u = x[r, i] + (a0 * dt) * v
                if u > 1.0:
                    u, v = 1.0, 0.0
                elif u < -1.0:
                    u, v = -1.0, 0.0
                x[r, i] = u
                y[r, i] = v
            for i in range(n):
                t = 1 if x[r, i] >= 0.0 else -1
                if t != s[r, i]:
                    d = 2.0 * t
                    s[r, i] = t
                    for p in range(indptr[i], indptr[i + 1]):
                        fields[r, indices[p]] += d * data[p]


class CompiledDSB:
    """State of the compiled dSB path for one solve: CSR arrays (float64), and per replica x, y
    (R, n) float64, signs (R, n) int8 and fields (R, n) float64."""

    def __init__(self, problem, replicas: int):
        J = problem.J
        self.csr = (J.indptr, J.indices, np.ascontiguousarray(J.data, dtype=np.float64))
        self.h = np.ascontiguousarray(problem.h, dtype=np.float64)
        n, R = problem.n, int(replicas)
        self.x = np.empty((R, n))
        self.y = np.empty((R, n))
        self.s = np.empty((R, n), dtype=np.int8)
        self.fields = np.empty((R, n))

    def start(self, x0: np.ndarray, y0: np.ndarray) -> None:
        """Set x, y (R, n) and recompute signs and fields."""
        self.x[:] = x0
        self.y[:] = y0
        signs_and_fields(*self.csr, self.x, self.s, self.fields)

    def steps(self, first: int, count: int, steps: int, a0: float, xi: float, dt: float, heat: float) -> None:
        dsb_steps(*self.csr, self.h, self.x, self.y, self.s, self.fields, int(first), int(count), int(steps),
                  float(a0), float(xi), float(dt), float(heat))
