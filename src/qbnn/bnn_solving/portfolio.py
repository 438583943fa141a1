"""Warm starts, multi-start portfolio and the ``solve_bnn`` entry point.

A *problem* is anything with ``topology``, ``X``, ``y`` and (optionally) ``objective(W) -> F``,
``qubo``, ``repair(w)``, ``violations(x)`` and ``decode(x)`` — the compiler's ``CompiledBNN``,
or :class:`BNNProblem` for a loss-only objective.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from qbnn import solver_registry
from qbnn.baselines.greedy import greedy_flip
from qbnn.baselines.ste import train_ste
from qbnn.bnn_solving.moves import AffineResidual, MoveState, fit_affine_residual
from qbnn.bnn_solving.tempering import SearchResult, anneal_moves, greedy_descent, parallel_tempering
from qbnn.compiler import load_compiled
from qbnn.solvers import IsingProblem, solve
from qbnn.solvers.problem import SolveResult
from qbnn.topology import Topology


@dataclass
class BNNProblem:
    """Minimal problem: training data and an exact objective (default: training loss)."""

    topology: Topology
    X: np.ndarray
    y: np.ndarray
    objective_fn: Callable[[np.ndarray], np.ndarray] | None = None

    def objective(self, W: np.ndarray) -> np.ndarray:
        W = np.atleast_2d(W)
        if self.objective_fn is not None:
            return np.asarray(self.objective_fn(W), dtype=np.float64)
        return np.asarray(self.topology.training_loss(W, self.X, self.y), dtype=np.float64).reshape(-1)


@dataclass
class BNNSolveResult:
    strategy: str
    weights: np.ndarray  # int8 ±1 (n_w,)
    objective: float  # F(weights), freshly evaluated
    train_errors: int  # training loss of the weights
    wall_time: float
    seed: int
    state: np.ndarray | None = None  # repair(weights), 0/1 QUBO state (if the problem has a QUBO)
    energy: float | None = None  # qubo.energy(state), fresh
    violations: int | None = None
    trace: list[tuple[int, float, float]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "objective": self.objective, "energy": self.energy,
                "train_errors": self.train_errors, "violations": self.violations,
                "wall_time": round(self.wall_time, 4), "seed": self.seed, **self.info}


def _get(obj: Any, *names: str) -> Any:
    for n in names:
        if hasattr(obj, n):
            return getattr(obj, n)
    return None


def problem_parts(compiled: Any) -> tuple[Topology, np.ndarray, np.ndarray, Callable | None]:
    """``(topology, X, y, objective)`` of a compiled problem (attribute names tolerated)."""
    topo = _get(compiled, "topology", "topo")
    X = _get(compiled, "X", "inputs", "x")
    y = _get(compiled, "y", "targets", "labels")
    if topo is None or X is None or y is None:
        raise TypeError("the compiled problem must expose topology, X and y")
    obj = _get(compiled, "objective")
    return topo, np.asarray(X), np.asarray(y), obj


def make_state(compiled: Any, W0: np.ndarray, device: str = "cpu") -> MoveState:
    """Move state for ``compiled``: exact incremental deltas using the compiler's decomposition
    (``margin`` λ, ``weight_penalties`` h) when present, checked against ``compiled.objective``;
    otherwise an affine residual fitted to the objective, or the exact full-evaluation fallback."""
    topo, X, y, obj = problem_parts(compiled)
    W0 = np.atleast_2d(W0)
    if isinstance(compiled, BNNProblem) and compiled.objective_fn is None:
        return MoveState(topo, X, y, W0, residual=fit_affine_residual(None, topo, X, y), device=device)
    h = _get(compiled, "weight_penalties")
    lam = _get(compiled, "margin")
    if h is not None and lam is not None and obj is not None:
        spec = _get(compiled, "margin_spec", "spec")  # qbnn.margins.MarginSpec (None: the paper's |z| form)
        st = MoveState(topo, X, y, W0, residual=AffineResidual(0.0, np.asarray(h, dtype=np.float64)), objective=obj,
                       device=device, margin=float(lam),
                       margin_arrays=None if spec is None else spec.arrays(topo, y))
        if np.allclose(st.F.cpu().numpy(), np.asarray(obj(W0), dtype=np.float64).reshape(-1), atol=1e-6):
            return st
    residual = fit_affine_residual(obj, topo, X, y)
    return MoveState(topo, X, y, W0, residual=residual, objective=obj, device=device)


def random_weights(rng: np.random.Generator, R: int, n_w: int) -> np.ndarray:
    return rng.choice(np.array([-1, 1], dtype=np.int8), size=(R, n_w))


# ------------------------------------------------------------------ warm starts
def warm_starts(compiled: Any, seed: int = 0, time_limit: float | None = 2.0,
                methods: tuple[str, ...] = ("ste", "greedy")) -> list[tuple[str, np.ndarray]]:
    """Weights from the baselines (``qbnn.baselines``: STE, greedy flips) when installed; [] otherwise."""
    topo, X, y, _ = problem_parts(compiled)
    out: list[tuple[str, np.ndarray]] = []
    for name in methods:
        try:
            if name == "ste":
                res = train_ste(topo, X, y, seed=seed, seeds=1)
            elif name == "greedy":
                res = greedy_flip(topo, X, y, seed=seed, restarts=5,
                                  time_limit=None if time_limit is None else 0.5 * time_limit)
            else:
                continue
        except Exception:  # baselines absent or failing: warm starts are optional
            continue
        w = res.get("weights") if isinstance(res, dict) else getattr(res, "weights", None)
        if w is not None and np.asarray(w).shape == (topo.n_weights,):
            out.append((name, np.asarray(w).astype(np.int8)))
    return out


# ------------------------------------------------------------------ strategies
def _start_state(compiled, replicas, seed, device, W0):
    """Replica state from the warm start ``W0`` or, without one, seeded random weights."""
    topo = problem_parts(compiled)[0]
    W = random_weights(np.random.default_rng(seed), replicas, topo.n_weights) if W0 is None else W0
    return make_state(compiled, W, device)


def _run_pt(compiled, replicas, steps, time_limit, seed, device, W0=None, target=None):
    st = _start_state(compiled, replicas, seed, device, W0)
    return parallel_tempering(st, steps=steps, seed=seed, time_limit=time_limit, target=target)


def _run_anneal(compiled, replicas, steps, time_limit, seed, device, W0=None, target=None):
    st = _start_state(compiled, replicas, seed, device, W0)
    return anneal_moves(st, steps=steps, seed=seed, time_limit=time_limit, target=target)


def _run_greedy_moves(compiled, replicas, steps, time_limit, seed, device, W0=None, target=None):
    """Multi-start steepest descent on cluster moves (restarts until the time limit, if any)."""
    t0 = time.perf_counter()
    deadline = None if time_limit is None else t0 + time_limit
    topo = problem_parts(compiled)[0]
    rng = np.random.default_rng(seed)
    best_w, best_F, trace, k = None, np.inf, [], 0
    while True:
        W = random_weights(rng, replicas, topo.n_weights) if (W0 is None or k > 0) else W0
        st = make_state(compiled, W, device)
        greedy_descent(st, deadline=deadline)
        i = int(torch.argmin(st.F))
        if float(st.F[i]) < best_F - 1e-9:
            best_F, best_w = float(st.F[i]), st.weights()[i]
            trace.append((k, time.perf_counter() - t0, best_F))
        k += 1
        if deadline is None or time.perf_counter() >= deadline or (target is not None and best_F <= target + 1e-9):
            break
    return SearchResult(best_w, best_F, trace, k, time.perf_counter() - t0)


def _run_portfolio(compiled, replicas, steps, time_limit, seed, device, W0=None, target=None):
    """Multi-start portfolio sharing one wall-clock budget.

    1. warm starts (STE / greedy baselines, if installed), polished by greedy descent;
    2. parallel tempering from random starts plus the warm starts (half the replicas each level);
    3. annealed Metropolis restarts with new seeds until the budget is spent;
    best feasible F wins. Stops early when F reaches its lower bound 0 (loss 0, no penalty).
    """
    t0 = time.perf_counter()
    budget = float(time_limit) if time_limit is not None else None
    topo = problem_parts(compiled)[0]
    rng = np.random.default_rng(seed)
    info: dict[str, Any] = {}
    warm = warm_starts(compiled, seed=seed, time_limit=None if budget is None else 0.3 * budget) if W0 is None else [("given", w) for w in np.atleast_2d(W0)]
    info["warm_starts"] = [n for n, _ in warm]
    W = random_weights(rng, replicas, topo.n_weights)
    for i, (_, w) in enumerate(warm[: replicas // 2]):
        W[-(i + 1)] = w  # coldest levels get the warm starts
    best: SearchResult | None = None
    k = 0
    while True:
        left = None if budget is None else budget - (time.perf_counter() - t0)
        if left is not None and left <= 0.05 and best is not None:
            break
        if k == 0:
            st = make_state(compiled, W, device)
            res = parallel_tempering(st, steps=steps, seed=seed, time_limit=None if left is None else 0.6 * left)
        else:
            Wk = random_weights(rng, replicas, topo.n_weights)
            Wk[0] = best.weights
            st = make_state(compiled, Wk, device)
            res = anneal_moves(st, steps=steps, seed=seed + 1000 * k, time_limit=left)
        if best is None or res.objective < best.objective:
            best = res
        k += 1
        if budget is None and k >= 3:
            break
        if best.objective <= (0 if target is None else target):
            break
    best.wall_time = time.perf_counter() - t0
    info["rounds"] = k
    best.info = info  # type: ignore[attr-defined]
    return best


def _run_decode_reanneal(compiled, replicas, steps, time_limit, seed, device, W0=None, target=None,
                         solver: str = "sa"):
    """Penalty-space → weight-space hand-off: a generic Ising solver (``qbnn.solvers``) anneals the
    raw QUBO for part of the budget, every replica is decoded to weights (= repaired, so feasible)
    and those weights seed parallel tempering on cluster moves."""
    t0 = time.perf_counter()
    topo = problem_parts(compiled)[0]
    qubo, decode = _get(compiled, "qubo"), _get(compiled, "decode")
    info: dict[str, Any] = {}
    W = random_weights(np.random.default_rng(seed), replicas, topo.n_weights) if W0 is None else W0
    if qubo is not None and decode is not None:
        try:
            gen = solve(IsingProblem.from_qubo(qubo), solver, replicas=replicas, steps=max(steps // 2, 10),
                        time_limit=None if time_limit is None else 0.3 * time_limit, seed=seed, device=device,
                        check_every=20, polish=False)  # decoding repairs anyway; the polish overran budgets
            W = np.asarray(decode(gen.bits)).astype(np.int8)[:replicas]
            if W.shape[0] < replicas:
                W = W[np.arange(replicas) % W.shape[0]]
            info["generic_solver"] = solver
        except Exception as exc:  # generic solvers unavailable: plain PT from random starts
            info["generic_solver_error"] = f"{type(exc).__name__}: {exc}"
    st = make_state(compiled, W, device)
    info["decoded_start_best_F"] = float(st.F.min())
    left = None if time_limit is None else max(time_limit - (time.perf_counter() - t0), 0.05)
    res = parallel_tempering(st, steps=steps, seed=seed, time_limit=left, target=target)
    res.info = info  # type: ignore[attr-defined]
    return res


def _run_ste_pt(compiled, replicas, steps, time_limit, seed, device, W0=None, target=None, epochs: int = 300):
    """Warm-started replica exchange sharing one budget: an STE run (one seed, ``qbnn.baselines``)
    gives weights; every replica starts from them and parallel tempering on cluster moves (exact
    QUBO energy deltas) explores around them for the remaining time; restarts with the next STE
    seed while budget is left (each round gets at least a third of the budget). Falls back to
    random starts when the STE baseline is unavailable."""
    t0 = time.perf_counter()
    topo, X, y, _ = problem_parts(compiled)
    rng = np.random.default_rng(seed)
    info: dict[str, Any] = {"warm_start": "given" if W0 is not None else "ste"}
    best: SearchResult | None = None
    k = 0
    while True:
        left = None if time_limit is None else time_limit - (time.perf_counter() - t0)
        if left is not None and best is not None and left <= 0.05:
            break
        if W0 is not None and k == 0:
            w0 = np.atleast_2d(W0)
        else:
            try:
                w0 = np.asarray(train_ste(topo, X, y, seed=seed * 100 + k, seeds=1, epochs=epochs)["weights"])[None]
            except ImportError:
                w0 = random_weights(rng, 1, topo.n_weights)
                info["warm_start"] = "random"
        W = w0[np.arange(replicas) % w0.shape[0]].astype(np.int8)
        st = make_state(compiled, W, device)
        left = None if time_limit is None else time_limit - (time.perf_counter() - t0)
        pt_time = None if left is None else max(left if left < time_limit / 3 else left / 2, 0.05)
        if target is not None and float(st.F.min()) <= target + 1e-9:  # the warm start already reaches it
            i = int(np.argmin(st.F.cpu().numpy()))
            res = SearchResult(st.weights()[i], float(st.F[i]), [(0, time.perf_counter() - t0, float(st.F[i]))])
        else:
            res = parallel_tempering(st, steps=steps, seed=seed + 7919 * k, time_limit=pt_time, target=target)
        if best is None or res.objective < best.objective:
            best = res
        k += 1
        if time_limit is None or best.objective <= (0 if target is None else target + 1e-9):
            break
    best.wall_time = time.perf_counter() - t0
    info["rounds"] = k
    best.info = info  # type: ignore[attr-defined]
    return best


#: strategy name -> function, for the registry's BNN-aware solvers (qbnn.solver_registry, kind "bnn")
STRATEGIES: dict[str, Callable[..., SearchResult]] = {
    spec.name: globals()[spec.function_name] for spec in solver_registry.SOLVERS.values() if spec.kind == "bnn"}


def solve_bnn(compiled: Any, strategy: str = "portfolio", replicas: int = 32, steps: int = 2000,
              time_limit: float | None = None, seed: int = 0, device: str = "cpu",
              init_weights: np.ndarray | None = None, threads: int | None = 1,
              target: float | None = None) -> BNNSolveResult:
    """Train the BNN encoded by ``compiled`` with a move-based strategy (see ``STRATEGIES``).

    Returns a :class:`BNNSolveResult`; when ``compiled`` has a QUBO, ``state = repair(weights)``
    (feasible by construction) and ``energy = qubo.energy(state)`` evaluated afresh.
    ``threads``: torch CPU threads during the solve (the tensors are small: 1 is fastest,
    more threads only add contention); restored afterwards. None leaves torch's setting.
    ``target``: stopping rule — return as soon as the objective reaches it (e.g. a known optimum).
    """
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        return _solve_bnn(compiled, strategy, replicas, steps, time_limit, seed, device, init_weights, target)
    finally:
        torch.set_num_threads(old)


def _solve_bnn(compiled, strategy, replicas, steps, time_limit, seed, device, init_weights, target) -> BNNSolveResult:
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown BNN strategy {strategy!r}; choose from {sorted(STRATEGIES)}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch has no CUDA device")
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    W0 = None if init_weights is None else np.atleast_2d(np.asarray(init_weights)).astype(np.int8)
    if W0 is not None and strategy not in ("portfolio", "ste-pt") and W0.shape[0] != replicas:
        W0 = W0[np.arange(replicas) % W0.shape[0]]
    res = STRATEGIES[strategy](compiled, int(replicas), int(steps), time_limit, int(seed), device, W0, target)
    if not hasattr(res, "info"):
        res.info = {}  # type: ignore[attr-defined]
    res.info["device"] = str(device)  # type: ignore[attr-defined]
    wall = time.perf_counter() - t0
    topo, X, y, obj = problem_parts(compiled)
    w = np.asarray(res.weights).astype(np.int8)
    F = float(np.asarray(obj(w[None]) if obj is not None else topo.training_loss(w[None], X, y)).reshape(-1)[0])
    errors = int(topo.training_loss(w, X, y))
    out = BNNSolveResult(strategy, w, F, errors, wall, int(seed), trace=res.trace,
                         info=dict(getattr(res, "info", {}) or {}, steps=res.steps, accept_rate=res.accept_rate))
    qubo = _get(compiled, "qubo")
    repair = _get(compiled, "repair")
    if qubo is not None and repair is not None:
        state = np.asarray(repair(w)).reshape(-1)
        out.state = state.astype(np.int8)
        out.energy = float(qubo.energy(state))
        viol = _get(compiled, "violations")
        if viol is not None:
            v = viol(state)
            out.violations = int(np.sum(v)) if np.ndim(v) else int(v)
    return out


def as_solve_result(r: BNNSolveResult):
    """The result as a ``qbnn.solvers.SolveResult`` (spins of ``repair(weights)``), so code written
    for the generic Ising solvers (e.g. ``qbnn solve``) can store it unchanged."""
    if r.state is None or r.energy is None:
        raise ValueError("the problem has no QUBO / repair(): nothing to express as a QUBO solution")
    spins = (2 * np.asarray(r.state, dtype=np.int8) - 1).astype(np.int8)
    t_best = float(r.trace[-1][1]) if r.trace else r.wall_time
    info = dict(r.info, strategy=r.strategy, objective=r.objective, train_errors=r.train_errors,
                violations=r.violations, device=r.info.get("device", "cpu"))
    return SolveResult(solver=f"bnn-{r.strategy}", states=spins[None], energies=np.array([r.energy]),
                       best_state=spins, best_energy=float(r.energy), seconds=float(r.wall_time),
                       seconds_to_best=t_best, trace=[tuple(map(float, t)) for t in r.trace],
                       steps_done=int(r.info.get("steps", 0)), info=info)


def solve_bnn_qubo_file(path: str, strategy: str = "portfolio", **kw):
    """Load a compiled BNN QUBO file (``qbnn.compiler.load_compiled``), solve it with ``strategy``
    and return a ``qbnn.solvers.SolveResult`` (see :func:`as_solve_result`)."""
    return as_solve_result(solve_bnn(load_compiled(path), strategy, **kw))
