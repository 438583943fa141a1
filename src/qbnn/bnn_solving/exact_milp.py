"""Exact MILP of BNN training (±1 weights, sign activations, sign(0)=+1), solved by HiGHS.

Proves the minimum of the full objective ``F(w) = loss + λ·R(w) + Σ h·w`` (``qbnn.margins``:
every margin variant; dropout weight penalties ``h``) on small instances, so the move-based
strategies and the baselines can be reported with a gap to the certified optimum.

Variables (all binary): weight bits ``β_e`` (``w_e = 2β_e − 1``), activation bits
``a_sk`` (``A_sk = 2a_sk − 1``) for every sample and neuron, and one XOR bit
``u = β_e ⊕ a_sj`` per (sample, edge from a neuron), so the product ``w_e·A_sj = 1 − 2u``
is linear. Every pre-activation is then linear: ``z_sk = c + Σ coef·var``, an integer in
``[−fan_in, fan_in]``, and the sign activation is two big-M rows::

    a = 1  ⇒  z ≥ 0      :  z − L·a       ≥ −L
    a = 0  ⇒  z ≤ −1     :  z − (L+1)·a   ≤ −1          (L = fan_in)

Loss = Σ_{s, outputs} [A ≠ T] — linear in the output activation bits (targets are constants),
the same Hamming loss as ``Topology.training_loss``.

Margin term (λ > 0), linearised: one continuous ``m_sj ∈ [0, min(L, cap_j)]`` per rewarded
(sample, neuron) with cost ``−λ·weight_j`` and rows (``M = 2L``)::

    |z| form:            m ≤ z + M(1 − a),   m ≤ −z + M·a
    signed output, t=+1: m ≤ z + M(1 − a),   m ≤ L·a          (reward [a = t]·|z| = max(t·z, 0))
    signed output, t=−1: m ≤ −z + M·a,       m ≤ L(1 − a)

Minimisation drives ``m`` up to its bound, so at an optimum ``m = min(f(z), cap)`` exactly.
Weight penalties: ``h·w = Σ 2h·β − Σ h``, linear in the weight bits.

Symmetry breaking (``symmetry=True``, exact — it only removes equivalent optima):

* *sign*: a non-output neuron ``k`` with odd fan-in never has ``z = 0``, so negating its incoming
  weights negates ``A_k`` exactly; negating its outgoing weights too leaves the network's function
  unchanged. Applied in reverse topological order these maps reach any sign pattern of one
  outgoing edge per neuron, so that edge's weight is fixed to +1;
* *permutation*: neurons with the same sources, bias flag and consumers (e.g. one hidden layer)
  are interchangeable; their counts of +1 incoming weights are required to be non-increasing.

Both maps leave every margin variant unchanged (hidden rewards depend on ``|z|`` only, outputs
are never flipped) but not ``h·w``: with nonzero weight penalties symmetry breaking is off.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from qbnn.compiler import load_compiled
from qbnn.errors import QbnnError
from qbnn.margins import MarginProblem, MarginSpec
from qbnn.mip.builder import Builder, new_highs, read_solution_file
from qbnn.mip.builder import write_model as write_highs_model
from qbnn.solvers.problem import SolveResult
from qbnn.topology import Topology

#: absolute tolerance of "proven optimal" on fractional objectives (λ > 0 or weight penalties)
GAP_TOL = 1e-6


@dataclass
class MILPResult:
    weights: np.ndarray | None  # int8 ±1 (n_w,), best incumbent (None if none found)
    objective: float  # F(incumbent) by a forward pass (inf if none)
    bound: float  # proven lower bound on F (integer objective: rounded up)
    optimal: bool  # objective − bound ≤ GAP_TOL: the incumbent is a certified optimum
    status: str
    seconds: float
    n_vars: int
    n_rows: int

    @property
    def gap(self) -> float:
        """``objective − bound`` (0 when proven; inf without an incumbent)."""
        return float(self.objective - self.bound) if np.isfinite(self.objective) else float("inf")

    def summary(self) -> dict:
        return {"objective": self.objective, "bound": self.bound, "gap": self.gap, "proven_optimal": self.optimal,
                "status": self.status, "seconds": round(self.seconds, 3), "n_vars": self.n_vars,
                "n_rows": self.n_rows}


def symmetry_fixes(topology: Topology) -> tuple[np.ndarray, list[list[int]]]:
    """``(fixed_plus (n_w,) bool, groups)``: weight bits that may be fixed to +1 and groups of
    interchangeable neurons (see the module docstring)."""
    d, N = topology.n_inputs, topology.n_neurons
    fixed = np.zeros(topology.n_weights, dtype=bool)
    consumers: list[list[int]] = [[] for _ in range(N)]  # incoming edge (weight index) per consumer edge
    cons_of: list[list[int]] = [[] for _ in range(N)]
    for c, src in enumerate(topology.sources):
        for p, s_ in enumerate(np.asarray(src)):
            if s_ >= d:
                consumers[s_ - d].append(int(topology.weight_offsets[c]) + p)
                cons_of[s_ - d].append(c)
    outs = set(topology.outputs)
    for k in range(N):
        if k not in outs and topology.fan_in(k) % 2 == 1 and consumers[k]:
            fixed[consumers[k][0]] = True
    groups: dict[tuple, list[int]] = {}
    for k in range(N):
        if k in outs:
            continue
        key = (tuple(np.asarray(topology.sources[k]).tolist()), bool(topology.bias[k]), tuple(sorted(cons_of[k])))
        groups.setdefault(key, []).append(k)
    return fixed, [g for g in groups.values() if len(g) > 1]


def build_milp(topology: Topology, X: np.ndarray, y: np.ndarray, symmetry: bool = True, margin: float = 0.0,
               margin_spec: MarginSpec | None = None, weight_penalties: np.ndarray | None = None):
    """Sparse MILP ``min cᵀx + c0  s.t.  lo ≤ A x ≤ hi, x ∈ {0,1}`` (margin columns continuous).

    Returns ``(A csr (m,n), lo (m,), hi (m,), c (n,), c0, layout)`` with ``layout`` the index
    arrays ``beta (n_w,)``, ``act (S,N)``, ``fixed (n_w,)`` (weights fixed to +1 by symmetry),
    ``xor``: (neuron, XOR-bit indices ``(S, hidden in-edges)``) per neuron with hidden inputs,
    ``marg``: (neuron, margin column indices ``(S,)``) per rewarded neuron, ``ub`` (n,) column
    upper bounds and ``integer`` (n,) bool.
    """
    prob = MarginProblem(topology, X, y, margin, margin_spec or MarginSpec(), weight_penalties)
    h = prob.weight_penalties
    if h.any():
        symmetry = False  # h·w is not invariant under the sign / permutation maps
    m_weight, m_sign, m_cap = prob.spec.arrays(topology, y)
    X = np.asarray(X).astype(np.int64)
    if X.ndim != 2:
        raise QbnnError(f"X must be 2-D (samples x inputs), got shape {X.shape}")
    topology.check_inputs(X.shape[1])
    T = topology.targets(y).astype(np.int64)  # (S, n_out) ±1
    S, d, N, n_w = X.shape[0], topology.n_inputs, topology.n_neurons, topology.n_weights
    bld = Builder()  # all columns binary; the objective is set below
    beta = bld.vars((n_w,), 0, 1, integer=True)
    act = bld.vars((S, N), 0, 1, integer=True)
    add = bld.rows
    xor = []  # (neuron k, XOR bit indices (S, hidden in-edges)) in build order
    marg = []  # (neuron k, margin columns (S,))
    m_cost = []  # their costs

    for k, src in enumerate(topology.sources):
        off = int(topology.weight_offsets[k])
        src = np.asarray(src, dtype=np.int64)
        inp = src < d
        L = topology.fan_in(k)
        # z = const + lin(cols, vals), per sample
        const = np.zeros(S)
        cols_k, vals_k = [], []
        e_in = off + np.nonzero(inp)[0]
        if e_in.size:  # w·x = 2xβ − x
            xs = X[:, src[inp]]  # (S, e)
            cols_k.append(np.broadcast_to(beta[e_in], xs.shape))
            vals_k.append(2.0 * xs)
            const -= xs.sum(axis=1)
        e_nb = off + np.nonzero(~inp)[0]
        if e_nb.size:  # w·A = 1 − 2u,  u = β ⊕ a
            j = src[~inp] - d
            u = bld.vars((S, e_nb.size), 0, 1, integer=True)
            xor.append((k, u))
            b_ = np.broadcast_to(beta[e_nb], u.shape).ravel()
            a_ = act[:, j].ravel()
            uu = u.ravel()
            one = np.ones(uu.size)
            add(np.stack([uu, b_, a_], 1), np.array([1.0, -1.0, 1.0]), 0.0 * one, np.inf * one)  # u ≥ β − a
            add(np.stack([uu, b_, a_], 1), np.array([1.0, 1.0, -1.0]), 0.0 * one, np.inf * one)  # u ≥ a − β
            add(np.stack([uu, b_, a_], 1), np.array([1.0, -1.0, -1.0]), -np.inf * one, 0.0 * one)  # u ≤ β + a
            add(np.stack([uu, b_, a_], 1), np.array([1.0, 1.0, 1.0]), -np.inf * one, 2.0 * one)  # u ≤ 2 − β − a
            cols_k.append(u)
            vals_k.append(np.full(u.shape, -2.0))
            const += e_nb.size
        if topology.bias[k]:  # bias weight: 2β − 1
            cols_k.append(np.full((S, 1), beta[off + len(src)]))
            vals_k.append(np.full((S, 1), 2.0))
            const -= 1
        cols = np.concatenate(cols_k + [act[:, k: k + 1]], axis=1)
        v_lin = np.concatenate(vals_k, axis=1)
        add(cols, np.concatenate([v_lin, np.full((S, 1), -float(L))], 1), -L - const, np.full(S, np.inf))
        add(cols, np.concatenate([v_lin, np.full((S, 1), -float(L + 1))], 1), np.full(S, -np.inf), -1 - const)
        if margin and m_weight[k] > 0:  # m ≤ f(z) (see the module docstring), maximised via cost −λ·weight
            m = bld.vars((S,), 0.0, min(float(L), float(m_cap[k])))
            marg.append((k, m))
            m_cost.append((m, -margin * m_weight[k]))
            t = m_sign[:, k]
            M = 2.0 * L
            mc = np.concatenate([m[:, None], cols], axis=1)
            up = np.where(t < 0, np.inf, const + M)  # m − z + M·a ≤ M + const   (|z| and t = +1)
            add(mc, np.concatenate([np.ones((S, 1)), -v_lin, np.full((S, 1), M)], 1), -np.inf, up)
            up = np.where(t > 0, np.inf, -const)  # m + z − M·a ≤ −const        (|z| and t = −1)
            add(mc, np.concatenate([np.ones((S, 1)), v_lin, np.full((S, 1), -M)], 1), -np.inf, up)
            if (t != 0).any():  # signed: m ≤ L·[a = t]
                add(np.stack([m, act[:, k]], 1), np.stack([np.ones(S), -L * t], 1), -np.inf, np.where(t > 0, 0.0, L))
    fixed = np.zeros(n_w, dtype=bool)
    if symmetry:
        fixed, groups = symmetry_fixes(topology)
        if fixed.any():  # β_e = 1
            e = np.nonzero(fixed)[0]
            add(beta[e][:, None], np.ones((e.size, 1)), np.ones(e.size), np.ones(e.size))
        for g in groups:  # Σ β_in(j) − Σ β_in(j') ≥ 0 for consecutive interchangeable neurons
            for j, j2 in zip(g, g[1:]):
                bj = beta[topology.weight_slice(j)]
                bj2 = beta[topology.weight_slice(j2)]
                add(np.concatenate([bj, bj2])[None], np.concatenate([np.ones(bj.size), -np.ones(bj2.size)])[None],
                    np.zeros(1), np.full(1, np.inf))
    c = np.zeros(bld.n)
    c0 = -float(h.sum())
    c[beta] += 2.0 * h  # h·w = Σ 2h·β − Σ h
    for m, cost in m_cost:
        c[m] = cost
    for o, k in enumerate(topology.outputs):  # [A ≠ T]: a if T = −1, 1 − a if T = +1
        pos = T[:, o] > 0
        c[act[:, k]] += np.where(pos, -1.0, 1.0)
        c0 += float(pos.sum())
    A, lo, hi = bld.matrix()
    return A, lo, hi, c, c0, {"beta": beta, "act": act, "fixed": fixed, "xor": xor, "marg": marg,
                              "ub": np.concatenate(bld.ub), "integer": np.concatenate(bld.integ), "problem": prob}


def solve_exact_milp(topology: Topology, X: np.ndarray, y: np.ndarray, time_limit: float = 60.0,
                     warm_weights: np.ndarray | None = None, threads: int = 1, seed: int = 0,
                     symmetry: bool = True, margin: float = 0.0, margin_spec: MarginSpec | None = None,
                     weight_penalties: np.ndarray | None = None, write_model=None) -> MILPResult:
    """Minimum of ``loss + λ·R + h·w`` by HiGHS (λ = ``margin``, R of ``margin_spec``, h =
    ``weight_penalties``); ``warm_weights`` (±1 ``(n_w,)``) seeds the incumbent (mapped onto the
    symmetry-reduced set first, see :func:`canonical_weights`).  At the time limit the result is
    the incumbent with its proven bound (``optimal`` False, ``gap`` > 0). ``write_model``: also write the
    MILP to this .mps / .lp file (for Gurobi, CPLEX, SCIP; the constant ``c0`` is the objective offset)."""
    t0 = time.perf_counter()
    A, lo, hi, c, c0, lay = build_milp(topology, X, y, symmetry=symmetry, margin=margin, margin_spec=margin_spec,
                                       weight_penalties=weight_penalties)
    prob = lay["problem"]
    symmetry = symmetry and not prob.weight_penalties.any()
    integral = (not margin) and np.allclose(prob.weight_penalties, np.round(prob.weight_penalties))
    lp = _lp(A, lo, hi, c, c0, lay)
    h = _highs(lp, time_limit, threads, seed, integral)
    if write_model is not None:
        write_highs_model(h, write_model)
    if warm_weights is not None:
        ww = canonical_weights(topology, np.asarray(warm_weights)) if symmetry else np.asarray(warm_weights)
        h.setSolution(_full_solution(topology, X, ww, lay, A.shape[1]))
    h.run()
    w, obj = _weights(h, prob, lay)
    info = h.getInfo()
    if warm_weights is not None and np.isfinite(info.objective_function_value) \
            and info.objective_function_value < obj - 0.5:
        # HiGHS 1.16 can report a better objective than the solution it hands back when presolve
        # finishes the model after setSolution: re-solve cold with the time left
        h = _highs(lp, max(time_limit - (time.perf_counter() - t0), 1.0), threads, seed, integral)
        h.run()
        w, obj = _weights(h, prob, lay)
        info = h.getInfo()
    status = h.modelStatusToString(h.getModelStatus())
    bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else -np.inf
    if integral and np.isfinite(bound):
        bound = float(np.ceil(bound - 1e-6))
    bound = min(bound, obj)
    optimal = bool(np.isfinite(obj) and obj - bound <= GAP_TOL * max(1.0, abs(obj)))
    return MILPResult(w, obj, bound, optimal, status, time.perf_counter() - t0, A.shape[1], A.shape[0])


def solve_exact(problem, time_limit: float = 60.0, warm_weights: np.ndarray | None = None, threads: int = 1,
                seed: int = 0, symmetry: bool = True, write_model=None) -> MILPResult:
    """:func:`solve_exact_milp` on a problem object: :class:`qbnn.margins.MarginProblem` or the
    compiler's ``CompiledBNN`` (its λ, margin variant and weight penalties)."""
    return solve_exact_milp(problem.topology, problem.X, problem.y, time_limit=time_limit, warm_weights=warm_weights,
                            threads=threads, seed=seed, symmetry=symmetry, margin=float(problem.margin),
                            margin_spec=getattr(problem, "margin_spec", None) or getattr(problem, "spec", None),
                            weight_penalties=problem.weight_penalties, write_model=write_model)


def exact_from_solution_file(cb, path, symmetry: bool = True):
    """A ``SolveResult`` from an outside solver's solution of the MILP ``solve_exact_compiled(...,
    write_model=...)`` wrote for ``cb``: its weight bits, repaired and evaluated afresh (the model is
    rebuilt to find the columns; the objective is F(w) by a forward pass, never the file's)."""
    t0 = time.perf_counter()
    A, _, _, _, _, lay = build_milp(cb.topology, cb.X, cb.y, symmetry=symmetry, margin=float(cb.margin),
                                    margin_spec=getattr(cb, "margin_spec", None) or getattr(cb, "spec", None),
                                    weight_penalties=cb.weight_penalties)
    x = read_solution_file(path, A.shape[1])
    w = np.where(x[lay["beta"]] > 0.5, 1, -1).astype(np.int8)
    state = cb.repair(w)
    spins = (2 * state.astype(np.int8) - 1).astype(np.int8)
    energy = float(cb.energy(state))
    sec = time.perf_counter() - t0
    cert = {"objective": float(lay["problem"].objective(w)), "solution_file": str(path)}
    return SolveResult(solver="exact-milp", states=spins[None], energies=np.array([energy]), best_state=spins,
                       best_energy=energy, seconds=sec, seconds_to_best=sec, trace=[(0.0, sec, energy)],
                       info={"certificate": cert, "device": "cpu"})


def _lp(A, lo, hi, c, c0, lay):
    import highspy

    m, n = A.shape
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, m
    lp.col_cost_ = c
    lp.offset_ = c0
    lp.col_lower_ = np.zeros(n)
    lp.col_upper_ = lay["ub"]
    lp.row_lower_, lp.row_upper_ = lo, hi
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr.astype(np.int32)
    lp.a_matrix_.index_ = A.indices.astype(np.int32)
    lp.a_matrix_.value_ = A.data.astype(np.float64)
    lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                       for i in lay["integer"]]
    return lp


def canonical_weights(topology: Topology, w: np.ndarray) -> np.ndarray:
    """The same network as ``w`` (identical outputs on every input) inside the symmetry-reduced set:
    signs normalised in reverse topological order, interchangeable neurons sorted by +1 count."""
    w = np.asarray(w, dtype=np.int8).copy()
    d = topology.n_inputs
    fixed, groups = symmetry_fixes(topology)
    fixed_of = {}
    for c, src in enumerate(topology.sources):
        for p, s_ in enumerate(np.asarray(src)):
            e = int(topology.weight_offsets[c]) + p
            if s_ >= d and fixed[e]:
                fixed_of[int(s_) - d] = e
    out_edges: dict[int, list[int]] = {}
    for c, src in enumerate(topology.sources):
        for p, s_ in enumerate(np.asarray(src)):
            if s_ >= d:
                out_edges.setdefault(int(s_) - d, []).append(int(topology.weight_offsets[c]) + p)
    for k in sorted(fixed_of, reverse=True):  # sources come before consumers in the neuron order
        if w[fixed_of[k]] < 0:
            w[topology.weight_slice(k)] *= -1
            w[out_edges[k]] *= -1
    for g in groups:
        counts = [int((w[topology.weight_slice(j)] > 0).sum()) for j in g]
        order = [g[i] for i in np.argsort(-np.asarray(counts), kind="stable")]
        new = w.copy()
        for dst, src in zip(g, order):  # neuron `src`'s role moves to position `dst`
            new[topology.weight_slice(dst)] = w[topology.weight_slice(src)]
            for c, srcs in enumerate(topology.sources):
                srcs = np.asarray(srcs)
                off = int(topology.weight_offsets[c])
                pd, ps = np.nonzero(srcs == d + dst)[0], np.nonzero(srcs == d + src)[0]
                if pd.size and ps.size:
                    new[off + pd] = w[off + ps]
        w = new
    return w


def _highs(lp, time_limit: float, threads: int, seed: int, integral: bool = True):
    h = new_highs({"time_limit": float(time_limit), "threads": int(threads), "random_seed": int(seed),
                   "mip_rel_gap": 0.0,  # an integer objective may stop 0.99 short; a fractional one may not
                   "mip_abs_gap": 0.99 if integral else GAP_TOL})
    h.passModel(lp)
    return h


def _weights(h, prob: MarginProblem, lay: dict):
    """Incumbent weights and their objective F, recomputed by a forward pass (inf if none)."""
    info = h.getInfo()
    sol = np.asarray(h.getSolution().col_value) if info.primal_solution_status >= 1 else None
    if sol is None or sol.size != lay["ub"].size:
        return None, np.inf
    w = np.where(sol[lay["beta"]] > 0.5, 1, -1).astype(np.int8)
    return w, float(prob.objective(w))


def _full_solution(topology: Topology, X: np.ndarray, w: np.ndarray, lay: dict, n: int):
    """A complete feasible 0/1 assignment for weights ``w`` (activations and XOR bits set consistently)."""
    import highspy

    _, Act = topology.forward(w, X)
    x = np.zeros(n)
    bw = (w > 0).astype(np.float64)
    x[lay["beta"]] = bw
    a = (Act > 0).astype(np.float64)
    x[lay["act"].ravel()] = a.ravel()
    d = topology.n_inputs
    for k, u in lay["xor"]:
        src = np.asarray(topology.sources[k])
        nb = np.nonzero(src >= d)[0]
        e = int(topology.weight_offsets[k]) + nb
        x[u] = np.logical_xor(bw[e][None, :] > 0.5, a[:, src[nb] - d] > 0.5)
    if lay["marg"]:
        Z, _ = topology.forward(w, X)
        _, sign, _ = lay["problem"].spec.arrays(topology, lay["problem"].y)
        for k, m in lay["marg"]:
            f = np.where(sign[:, k] == 0, np.abs(Z[:, k]), np.maximum(sign[:, k] * Z[:, k], 0))
            x[m] = np.minimum(f, lay["ub"][m])
    sol = highspy.HighsSolution()
    sol.col_value = list(x)
    sol.value_valid = True
    return sol


def solve_exact_qubo_file(path: str, time_limit: float | None = 60.0, seed: int = 0, threads: int = 1):
    """Certify the optimum of a compiled BNN QUBO file (``qbnn solve --solver exact``).

    Returns a ``qbnn.solvers.SolveResult`` holding ``repair(w*)`` (its QUBO energy equals F(w*)),
    with ``info["certificate"] = {proven_optimal, objective, bound, gap, status, milp_seconds}``.
    No time limit means an hour (HiGHS needs a number)."""
    return solve_exact_compiled(load_compiled(path), time_limit=time_limit, seed=seed, threads=threads, name=path)


def solve_exact_compiled(cb, time_limit: float | None = 60.0, seed: int = 0, threads: int = 1, name: str = "the QUBO",
                         write_model=None):
    """:func:`solve_exact_qubo_file` on a loaded ``CompiledBNN`` (``write_model``: also write the MILP)."""
    r = solve_exact(cb, time_limit=3600.0 if time_limit is None else float(time_limit), seed=seed, threads=threads,
                    write_model=write_model)
    if r.weights is None:
        raise QbnnError(f"exact MILP found no network within {time_limit} s for {name} (status {r.status})")
    spins = (2 * cb.repair(r.weights).astype(np.int8) - 1).astype(np.int8)
    energy = float(cb.energy(cb.repair(r.weights)))
    cert = {"proven_optimal": r.optimal, "objective": r.objective, "bound": r.bound, "gap": r.gap,
            "status": r.status, "milp_seconds": round(r.seconds, 3)}
    return SolveResult(solver="exact-milp", states=spins[None], energies=np.array([energy]), best_state=spins,
                       best_energy=energy, seconds=r.seconds, seconds_to_best=r.seconds,
                       trace=[(0.0, r.seconds, energy)], reached_target=r.optimal,
                       info={"certificate": cert, "device": "cpu"})
