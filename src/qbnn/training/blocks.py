"""Exact sub-problems over one block of weights (a subset of one neuron's incoming weights).

With every other weight fixed, neuron ``j``'s incoming weights change only ``a_j`` on each sample,
so the objective restricted to the block is exactly

    F(w_B) = const + Σ_s cost_s(a_sj(w_B)) + Σ_{e∈B} h_e w_e,

where ``cost_s(±1)`` is sample ``s``'s loss with ``a_sj`` forced to ``±1``
(:meth:`NetState.activation_costs`; for an output neuron it is its own ``[a ≠ t]``, for a hidden
neuron the loss of the outputs it feeds). This is the block QUBO's minimum over its
activation/slack/product bits (``qbnn.training.block_qubo`` builds that QUBO; tests check the two
agree). Samples whose two costs are equal drop out of the block problem.

Solvers: :meth:`NeuronBlock.solve_exhaustive` enumerates all ``2^k`` block assignments (exact, ``k`` ≤ 16,
vectorised as one float32 matrix product — the values are small integers, so it is exact);
:func:`solve_block_milp` is the block's MILP twin solved by HiGHS (a whole neuron), warm-started at
the current weights so it never returns anything worse.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from qbnn.training.objective import NetState

MAX_EXHAUSTIVE_BITS = 16


@lru_cache(maxsize=None)
def _all_assignments(k: int) -> np.ndarray:
    """float32 ``(2^k, k)`` of every ±1 assignment (row ``i``: the bits of ``i``)."""
    bits = (np.arange(1 << k)[:, None] >> np.arange(k)[None]) & 1
    return (2 * bits - 1).astype(np.float32)


class NeuronBlock:
    """Neuron ``j``'s exact sub-problem with every other neuron's weights fixed: inputs ``V`` of the
    samples whose cost depends on ``a_j`` ``(S', n)``, their cost difference ``dc = cost(+1) −
    cost(−1)`` ``(S',)``, ``base = Σ_s cost_s(−1)`` over all samples and the rest of ``h·w``.
    Several blocks of the same neuron are solved in turn against it (the terms do not change)."""

    def __init__(self, state: NetState, j: int) -> None:
        self.j = j
        sl = state.topo.weight_slice(j)
        self.w = state.w[sl].astype(np.int32)
        self.h = state.p.weight_penalties[sl]
        self.rest = float(state.w.astype(np.float64) @ state.p.weight_penalties - self.w @ self.h)
        self.surrogate = state.p.surrogate
        # an output neuron under a graded surrogate: its cost depends on z itself, not only on its sign
        self.graded = not self.surrogate.is_documented and j in state.out_pos
        if self.graded:
            o = state.out_pos[j]
            self.V = state.inputs_of(j)
            self.Vf = self.V.astype(np.float32)
            self.t = state.p.T[:, o].astype(np.float64)
            others = np.delete(np.arange(len(state.out)), o)
            self.base = float(self.surrogate.cost(state.Z[:, state.out[others]], state.p.T[:, others]).sum())
            self.z = self.V @ self.w
            return
        cp, cm = state.activation_costs(j)
        dc = cp - cm
        keep = np.flatnonzero(dc)
        self.V = state.inputs_of(j)[keep]
        self.Vf = self.V.astype(np.float32)
        self.dc = dc[keep].astype(np.float64)
        self.base = float(cm.sum())
        self.z = self.V @ self.w

    def objective(self, w: np.ndarray | None = None) -> float:
        """Exact F of the network with neuron ``j``'s weights ``w`` (default: the block's current)."""
        w = self.w if w is None else w
        z = self.z if w is self.w else self.V @ w
        if self.graded:
            return self.base + float(self.surrogate.cost(z, self.t).sum()) + self.rest + float(w @ self.h)
        return self.base + float(self.dc[z >= 0].sum()) + self.rest + float(w @ self.h)

    def solve_exhaustive(self, pos: np.ndarray, rng: np.random.Generator, margin_ties: bool = True) -> float:
        """Best assignment of the weights at positions ``pos`` (others fixed); among equal-objective
        candidates the largest margin wins (``margin_ties``), remaining ties are broken at random;
        updates the block's weights and returns the new F (never above the old one: the current
        assignment is a candidate)."""
        pos = np.asarray(pos, dtype=np.int64)
        k = len(pos)
        if k > MAX_EXHAUSTIVE_BITS:
            raise ValueError(f"exhaustive block solves take at most {MAX_EXHAUSTIVE_BITS} bits, got {k}")
        C = _all_assignments(k)
        zb = self.z - self.V[:, pos] @ self.w[pos]  # pre-activation without the block
        if self.graded:
            cost = self._graded_costs(C, pos, zb, k)
        else:
            # the block moves z by at most k: samples with |zb| > k keep their activation (constant cost)
            open_ = np.flatnonzero(np.abs(zb) <= k)
            Zc = C @ self.Vf[open_][:, pos].T + zb[open_].astype(np.float32)[None]  # (2^k, open samples)
            dc = self.dc[open_]
            if np.array_equal(dc, np.round(dc)):  # integer costs: float32 is exact
                cost = ((Zc >= 0).astype(np.float32) @ dc.astype(np.float32)).astype(np.float64)
            else:
                cost = (Zc >= 0).astype(np.float64) @ dc
        cost += C.astype(np.float64) @ self.h[pos]
        best = np.flatnonzero(cost <= cost.min() + 1e-6)
        if margin_ties and len(best) > 1 and not self.graded:
            # among equal-loss candidates prefer the largest pre-activation margin on the side the
            # loss prefers: Σ_s (−dc_s) z_s (for an output neuron −dc = its ±1 target), linear in C
            margin = C[best].astype(np.float64) @ (self.Vf[:, pos].T.astype(np.float64) @ -self.dc)
            best = best[margin >= margin.max() - 1e-6]
        pick = int(best[rng.integers(len(best))]) if len(best) > 1 else int(best[0])
        self.w[pos] = C[pick].astype(np.int32)
        self.z = self.V @ self.w  # integer arithmetic: the returned F is exact
        return self.objective()


    def _graded_costs(self, C: np.ndarray, pos: np.ndarray, zb: np.ndarray, k: int) -> np.ndarray:
        """Surrogate cost of every block assignment for a graded output neuron (exact, float64 sums):
        samples whose hinge and sign cannot change (``t·zb − k ≥ max(κ, 1)``) cost nothing."""
        tz = self.t * zb
        open_ = np.flatnonzero(tz - k < max(self.surrogate.kappa, 1.0))
        Zc = C @ self.Vf[open_][:, pos].T + zb[open_].astype(np.float32)[None]
        sg = self.surrogate
        if all(float(v).is_integer() for v in (sg.errors, sg.hinge, sg.kappa)):  # integer costs: float32 exact
            t = self.t[open_].astype(np.float32)[None]
            c = np.zeros_like(Zc)
            if sg.errors:
                c += np.float32(sg.errors) * ((Zc >= 0) != (t > 0))
            if sg.hinge:
                tz = np.multiply(t, Zc, out=Zc)
                c += np.float32(sg.hinge) * np.maximum(np.float32(sg.kappa) - tz, 0, out=tz)
            return c.sum(axis=1, dtype=np.float64)
        return sg.cost(Zc.astype(np.float64), self.t[open_][None]).sum(axis=1)


def solve_block_milp(state: NetState, j: int, time_limit: float = 1.0, threads: int = 1
                     ) -> tuple[np.ndarray, float]:
    """Neuron ``j``'s whole incoming weight vector by HiGHS (MILP twin of the block QUBO):

    min Σ_s dc_s α_s + Σ_e 2 h_e u_e   s.t.  z_s = Σ_e V_se (2u_e − 1),
    z_s ≥ −M_s (1 − α_s),  z_s ≤ −1 + (M_s + 1) α_s     (α_s = [z_s ≥ 0], sign(0) = +1)

    with ``M_s = fan-in``; warm-started at the current weights. Returns ``(w_j, F)`` (exact F from a
    forward evaluation; the current weights when HiGHS finds nothing better)."""
    import highspy

    from qbnn.mip.builder import new_highs  # HiGHS: only for the MILP blocks

    blk = NeuronBlock(state, j)
    if blk.graded:
        raise ValueError("the whole-neuron MILP solves the documented loss only (no graded surrogate)")
    wj, h, V, dc = blk.w, blk.h, blk.V, blk.dc
    S, n = V.shape
    F_of = blk.objective
    F_cur = F_of()
    if S == 0:
        return wj.astype(np.int8), F_cur
    hs = new_highs({"time_limit": float(time_limit), "threads": int(threads), "random_seed": 0})
    inf = highspy.kHighsInf
    # columns: u (n), α (S)
    cost = np.concatenate([2 * h, dc])
    hs.addVars(n + S, np.zeros(n + S), np.ones(n + S))
    hs.changeColsCost(n + S, np.arange(n + S, dtype=np.int32), cost)
    hs.changeColsIntegrality(n + S, np.arange(n + S, dtype=np.int32),
                             np.full(n + S, highspy.HighsVarType.kInteger))
    M = float(n)
    # z_s = 2 V u − ΣV ; rows: 2Vu + M α ≥ ΣV − M ;  2Vu − (M+1) α ≤ ΣV − 1
    rs = V.sum(axis=1).astype(np.float64)
    A = np.hstack([2.0 * V, np.zeros((S, S))])
    idx_rows = np.arange(S)
    A1 = A.copy(); A1[idx_rows, n + idx_rows] = M
    A2 = A.copy(); A2[idx_rows, n + idx_rows] = -(M + 1)
    for Am, lo, up in ((A1, rs - M, np.full(S, inf)), (A2, np.full(S, -inf), rs - 1)):
        nz = Am != 0
        starts = np.concatenate([[0], np.cumsum(nz.sum(axis=1))[:-1]]).astype(np.int32)
        cols = np.nonzero(nz)[1].astype(np.int32)
        hs.addRows(S, lo, up, int(nz.sum()), starts, cols, Am[nz])
    u0 = (wj > 0).astype(np.float64)
    a0 = ((V @ wj) >= 0).astype(np.float64)
    sol = highspy.HighsSolution()
    sol.col_value = list(np.concatenate([u0, a0]))
    sol.value_valid = True
    hs.setSolution(sol)
    hs.run()
    try:
        x = np.asarray(hs.getSolution().col_value)
    except Exception:  # pragma: no cover - no solution object
        return wj.astype(np.int8), F_cur
    if x.size != n + S:
        return wj.astype(np.int8), F_cur
    w_new = np.where(x[:n] > 0.5, 1, -1).astype(np.int32)
    F_new = F_of(w_new)
    if F_new < F_cur - 1e-9:
        return w_new.astype(np.int8), F_new
    return wj.astype(np.int8), F_cur
