"""Dropout-inspired regularisation of exact BNN training (see ``docs/dropout.md``).

One *round*:

1. sample ``K`` subnetworks of the full topology (drop each hidden neuron, or each edge,
   with probability ``p``; see :func:`sample_subnetwork`);
2. train each subnetwork on the full training set (objective: training loss of the
   subnetwork plus the previous round's penalties restricted to its weights);
3. turn the sub solutions into one linear penalty per weight bit of the full network::

       h_w = -beta * mean_{k : w in subnetwork k} w^(k)      (0 when w was never sampled)

The penalties enter the full problem as the extra objective term ``Σ_w h_w · w`` (``w = ±1``),
so agreement of the subnetworks on ``w = +1`` lowers the energy of ``w = +1``.  In QUBO bits
``w = 2b − 1`` this adds ``2·h_w`` to the weight bit's linear coefficient and ``−Σ h_w`` to the
offset (:func:`penalty_qubo_terms`).
"""
from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from qbnn.dropout_files import (PENALTIES_FORMAT, SUBNETWORK_FORMAT, Penalties,  # noqa: F401 (API)
                                load_subnetwork, save_subnetwork)
from qbnn.errors import QbnnError
from qbnn.solver_registry import SUBNETWORK_DEFAULTS
from qbnn.topology import Topology
from qbnn.qubo import QUBO

UNITS = ("neuron", "edge")
#: β per round: constant; increasing β·(r+1)/R (trust later, better-informed rounds more);
#: decreasing β·(R−r)/R (early rounds pull hardest, later ones only refine)
BETA_SCHEDULES = ("constant", "increasing", "decreasing")


def beta_at(beta: float, schedule: str, r: int, R: int) -> float:
    """β of round ``r`` (0-based) of ``R`` under ``schedule`` (:data:`BETA_SCHEDULES`)."""
    if schedule not in BETA_SCHEDULES:
        raise QbnnError(f"beta schedule must be one of {BETA_SCHEDULES}, got {schedule!r}")
    if schedule == "increasing":
        return float(beta) * (r + 1) / R
    if schedule == "decreasing":
        return float(beta) * (R - r) / R
    return float(beta)

#: ``solve_fn(topology, X, y, *, penalties, margin, seed) -> ±1 weights (n_weights,)``
SolveFn = Callable[..., np.ndarray]


# --------------------------------------------------------------------- sampling
def sample_subnetwork(
    topology: Topology, p: float, unit: str = "neuron", rng: np.random.Generator | int | None = None
) -> tuple[Topology, np.ndarray]:
    """Sample a dropout subnetwork of ``topology``.

    Parameters
    ----------
    p : drop probability in ``[0, 1]``.
    unit : ``"neuron"`` drops each *hidden* neuron (with all its in- and out-edges);
        ``"edge"`` drops each edge.  Inputs, output neurons and biases are never dropped.
    rng : a ``numpy.random.Generator`` or a seed.

    Validity rules (the result is always a valid DAG with the same inputs and outputs):

    * a neuron left with no live source is dropped too (cascading forward) if it is
      hidden; if it is *required* (an output, or a neuron forced alive by this rule) its
      first original source is restored (re-enabling that neuron if it had been dropped,
      which then becomes required itself) -- this always terminates since the graph is a DAG;
    * in ``"edge"`` mode a neuron that lost all its incoming edges keeps one of them,
      chosen uniformly among its original sources;
    * a hidden neuron that had readers in the full network but none left in the
      subnetwork is pruned (its weights could not affect the loss), repeatedly.

    With ``p = 0`` the subnetwork is the full network and the map is ``arange(n_weights)``.

    Returns
    -------
    sub : Topology
        Same input width and output order; neurons keep their names.
    weight_index_map : int64 ``(sub.n_weights,)``
        Index in the full weight vector of every sub weight bit (canonical order).
    """
    if unit not in UNITS:
        raise QbnnError(f"dropout unit must be one of {UNITS}, got {unit!r}")
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise QbnnError(f"dropout probability must lie in [0, 1], got {p}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    d, N = topology.n_inputs, topology.n_neurons
    is_out = np.zeros(N, dtype=bool)
    is_out[list(topology.outputs)] = True
    srcs = [list(map(int, s)) for s in topology.sources]

    if unit == "neuron":
        keep = rng.random(N) >= p
        keep[is_out] = True
        edge_keep = [np.ones(len(s), dtype=bool) for s in srcs]
    else:
        keep = np.ones(N, dtype=bool)
        edge_keep = [rng.random(len(s)) >= p for s in srcs]
        for k, ek in enumerate(edge_keep):
            if not ek.any():
                ek[int(rng.integers(len(ek)))] = True

    required = is_out.copy()
    while True:  # fixpoint: cascade dead neurons forward, restore sources of required ones
        alive = keep.copy()
        changed = False
        for k in range(N):  # topological order
            if not alive[k]:
                continue
            live = [j for j, s in enumerate(srcs[k]) if edge_keep[k][j] and (s < d or alive[s - d])]
            if live:
                continue
            if required[k]:
                j = 0  # restore the first original source (edge and, if needed, neuron)
                edge_keep[k][j] = True
                s = srcs[k][j]
                if s >= d:
                    keep[s - d] = True
                    required[s - d] = True
                changed = True
                break
            alive[k] = False
        if not changed:
            break

    # prune hidden neurons that lost all their readers (reverse topological order)
    had_reader = np.zeros(N, dtype=bool)
    for k in range(N):
        for s in srcs[k]:
            if s >= d:
                had_reader[s - d] = True
    for k in reversed(range(N)):
        if not alive[k] or is_out[k] or not had_reader[k]:
            continue
        read = any(
            alive[m] and edge_keep[m][j] and s == d + k for m in range(N) for j, s in enumerate(srcs[m])
        )
        if not read:
            alive[k] = False

    neurons: dict[str, dict] = {}
    for k in range(N):
        if not alive[k]:
            continue
        frm = [topology.node_name(s) for j, s in enumerate(srcs[k]) if edge_keep[k][j] and (s < d or alive[s - d])]
        neurons[topology.names[k]] = {"from": frm, "bias": bool(topology.bias[k])}
    spec = {"inputs": d, "neurons": neurons, "outputs": [topology.names[o] for o in topology.outputs]}
    sub = Topology.from_spec(spec)
    full_index = {lab: i for i, lab in enumerate(topology.weight_labels())}
    wmap = np.array([full_index[lab] for lab in sub.weight_labels()], dtype=np.int64)
    return sub, wmap


# ---------------------------------------------------------------------- penalties
def penalties_from_solutions(
    n_weights: int, solutions: list[np.ndarray], maps: list[np.ndarray], beta: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(h, mean, count)``: ``h_w = -beta * mean_w`` over the subnetworks containing ``w``.

    ``count`` (int64) is how many subnetworks contained each weight; ``mean`` and ``h`` are
    0 where ``count == 0``.
    """
    total = np.zeros(n_weights, dtype=np.float64)
    count = np.zeros(n_weights, dtype=np.int64)
    for w, m in zip(solutions, maps):
        w = np.asarray(w, dtype=np.float64).reshape(-1)
        if w.shape != m.shape:
            raise QbnnError(f"sub solution has {w.size} weights, its map {m.size}")
        np.add.at(total, m, w)
        np.add.at(count, m, 1)
    mean = np.divide(total, count, out=np.zeros(n_weights), where=count > 0)
    h = -float(beta) * mean
    h[count == 0] = 0.0
    return h + 0.0, mean, count  # + 0.0 turns -0.0 into 0.0


def penalty_qubo_terms(h: np.ndarray) -> tuple[np.ndarray, float]:
    """QUBO form of ``Σ h_w·w`` with ``w = 2b − 1``: ``(linear_delta = 2h, offset_delta = −Σh)``."""
    h = np.asarray(h, dtype=np.float64)
    return 2.0 * h, -float(h.sum())


def apply_penalties_to_qubo(qubo: Any, h: np.ndarray, weight_vars: np.ndarray | None = None) -> Any:
    """Return a copy of ``qubo`` (:class:`qbnn.qubo.QUBO`) with ``Σ h_w·w`` added.

    ``weight_vars``: QUBO variable index of weight bit ``w`` (default: the ``"weight"``
    variables in index order, which the compiler lays out in canonical weight order).
    """
    h = np.asarray(h, dtype=np.float64)
    idx = qubo.indices("weight") if weight_vars is None else np.asarray(weight_vars, dtype=np.int64)
    if len(idx) != len(h):
        raise QbnnError(f"penalties have {len(h)} entries, the QUBO has {len(idx)} weight variables")
    dl, doff = penalty_qubo_terms(h)
    lin = qubo.linear.copy()
    lin[idx] += dl
    return QUBO(lin, qubo.rows.copy(), qubo.cols.copy(), qubo.values.copy(), qubo.offset + doff,
                varmap={k: v.copy() for k, v in qubo.varmap.items()}, attrs=dict(qubo.attrs))


def penalised_objective(topology: Topology, X: np.ndarray, y: np.ndarray, h: np.ndarray | None) -> Callable:
    """``F(W) = training_loss(W) + W @ h`` for a batch ``(R, n_weights)`` of ±1 weights."""
    hh = None if h is None else np.asarray(h, dtype=np.float64)

    def F(W: np.ndarray) -> np.ndarray:
        W = np.atleast_2d(W)
        loss = np.asarray(topology.training_loss(W, X, y), dtype=np.float64).reshape(-1)
        return loss if hh is None else loss + W.astype(np.float64) @ hh

    return F


# ----------------------------------------------------------------------- solvers
def greedy_objective(
    objective: Callable[[np.ndarray], np.ndarray], n_weights: int, *, seed: int = 0, restarts: int = 2,
    max_steps: int | None = None, time_limit: float | None = None,
) -> np.ndarray:
    """Best-improvement single-bit-flip descent on a batched objective (deterministic per seed)."""
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    max_steps = 4 * n_weights + 10 if max_steps is None else int(max_steps)
    best_w, best_f = None, np.inf
    for _ in range(max(1, int(restarts))):
        w = rng.choice(np.array([-1, 1], dtype=np.int8), size=n_weights)
        f = float(objective(w[None])[0])
        for _ in range(max_steps):
            C = np.repeat(w[None], n_weights, axis=0)
            C[np.arange(n_weights), np.arange(n_weights)] *= -1
            F = objective(C)
            j = int(np.argmin(F))
            if F[j] >= f - 1e-12:
                break
            w, f = C[j].copy(), float(F[j])
            if time_limit is not None and time.perf_counter() - t0 > time_limit:
                break
        if f < best_f:
            best_w, best_f = w, f
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            break
    return best_w.astype(np.int8)


def make_solve_fn(solver: str = "auto", *, time_limit: float | None = 2.0,
                  strategy: str = SUBNETWORK_DEFAULTS["solver"], replicas: int = SUBNETWORK_DEFAULTS["replicas"],
                  steps: int = SUBNETWORK_DEFAULTS["steps"], device: str = "cpu") -> SolveFn:
    """A solve function ``(topology, X, y, *, penalties, margin, seed) -> ±1 weights``.

    * ``"auto"``: :func:`qbnn.bnn_solving.solve_bnn` when importable, else ``"greedy"``.
      With ``margin > 0`` and :mod:`qbnn.compiler` importable the problem is the compiled
      BNN (``compile_bnn(..., margin, weight_penalties=penalties)``); otherwise the exact
      objective ``training loss + Σ h·w``.  Time-limited, hence not bit-reproducible.
    * ``"greedy"``: :func:`greedy_objective` on the exact objective (deterministic); with
      ``margin > 0`` on the compiled objective ``loss + margin·R + h·w`` when the compiler exists.
    """
    if solver not in ("auto", "bnn", "greedy"):
        raise QbnnError(f"unknown solver {solver!r} (auto, bnn, greedy)")

    def greedy(topology, X, y, *, penalties=None, margin=0.0, seed=0):
        F = penalised_objective(topology, X, y, penalties)
        if margin and _compile_fn() is not None:  # the compiled objective adds the margin term
            F = _compile_fn()(topology, X, y, margin=margin, weight_penalties=penalties).objective
        return greedy_objective(F, topology.n_weights, seed=seed, time_limit=time_limit)

    if solver == "greedy":
        return greedy
    try:
        bs = importlib.import_module("qbnn.bnn_solving")
    except Exception:
        if solver == "bnn":
            raise QbnnError("solver 'bnn' needs qbnn.bnn_solving") from None
        return greedy

    def bnn(topology, X, y, *, penalties=None, margin=0.0, seed=0):
        problem = None
        if margin:
            compile_bnn = _compile_fn()
            if compile_bnn is not None:
                problem = compile_bnn(topology, X, y, margin=margin, weight_penalties=penalties)
        if problem is None:
            problem = bs.BNNProblem(topology, X, y, penalised_objective(topology, X, y, penalties) if penalties is not None else None)
        res = bs.solve_bnn(problem, strategy=strategy, replicas=replicas, steps=steps,
                           time_limit=time_limit, seed=int(seed), device=device)
        return np.asarray(res.weights, dtype=np.int8)

    return bnn


def _compile_fn() -> Callable | None:
    try:
        return getattr(importlib.import_module("qbnn.compiler"), "compile_bnn", None)
    except Exception:
        return None


# ------------------------------------------------------------------------ rounds
@dataclass
class DropoutRound:
    """Result of one dropout round."""

    round: int
    penalties: np.ndarray  # float64 (n_weights,): the new h
    mean: np.ndarray  # float64 (n_weights,): mean sub solution per weight (0 if never sampled)
    count: np.ndarray  # int64 (n_weights,): #subnetworks containing each weight
    sub_topologies: list[Topology] = field(default_factory=list)
    sub_maps: list[np.ndarray] = field(default_factory=list)
    sub_solutions: list[np.ndarray] = field(default_factory=list)
    sub_errors: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {"round": self.round, "K": len(self.sub_solutions), "covered": int((self.count > 0).sum()),
                "n_weights": int(self.penalties.size), "h_abs_mean": float(np.abs(self.penalties).mean()),
                "sub_errors": [int(e) for e in self.sub_errors], "seconds": round(self.seconds, 4)}


@dataclass
class SubnetworkSolution:
    """Subnetwork ``k`` of a round, solved: the unit one Snakemake job produces."""

    k: int
    topology: Topology
    map: np.ndarray  # int64 (n_sub_weights,): index of each sub weight in the full network's order
    weights: np.ndarray  # int8 ±1 (n_sub_weights,)
    errors: int  # training errors of the subnetwork (forward pass)


def _previous(penalties_prev: np.ndarray | None, n: int) -> np.ndarray | None:
    if penalties_prev is None:
        return None
    hp = np.asarray(penalties_prev, dtype=np.float64).reshape(-1)
    if hp.shape != (n,):
        raise QbnnError(f"previous penalties have {hp.size} entries, the network has {n} weights")
    return hp


def solve_subnetwork(
    topology: Topology, X: np.ndarray, y: np.ndarray, penalties_prev: np.ndarray | None = None, *,
    k: int, p: float = 0.5, unit: str = "neuron", seed: int = 0, round_index: int = 0,
    solve_fn: SolveFn | None = None, margin: float = 0.0,
) -> SubnetworkSolution:
    """Sample subnetwork ``k`` of round ``round_index`` (``SeedSequence([seed, r, k])``) and
    solve it on its training loss plus ``penalties_prev`` restricted to its weights."""
    X, y = np.asarray(X), np.asarray(y)
    topology.check_inputs(X.shape[1])
    hp = _previous(penalties_prev, topology.n_weights)
    ss = np.random.SeedSequence([int(seed), int(round_index), int(k)])
    sub, m = sample_subnetwork(topology, p, unit, np.random.default_rng(ss))
    w = (solve_fn or make_solve_fn("auto"))(sub, X, y, penalties=None if hp is None else hp[m], margin=margin,
                                             seed=int(ss.generate_state(1)[0] % (2**31)))
    w = np.asarray(w, dtype=np.int8).reshape(-1)
    if w.shape != (sub.n_weights,) or not np.isin(w, (-1, 1)).all():
        raise QbnnError("solve function must return ±1 weights of the subnetwork's size")
    return SubnetworkSolution(int(k), sub, m, w, int(sub.training_loss(w, X, y)))


def dropout_round(
    topology: Topology, X: np.ndarray, y: np.ndarray, penalties_prev: np.ndarray | None = None, *,
    K: int = 4, p: float = 0.5, beta: float = 1.0, unit: str = "neuron", seed: int = 0,
    solve_fn: SolveFn | None = None, margin: float = 0.0, round_index: int = 0, accumulate: bool = False,
) -> DropoutRound:
    """One round: sample ``K`` subnetworks, solve each (:func:`solve_subnetwork`), return the
    new penalties.  The workflow runs the ``K`` solves as separate jobs and combines their
    files with :func:`penalties_from_solutions`; the result is the same.

    ``accumulate``: the round's penalties are ``penalties_prev + h_new`` (summed across rounds,
    ``|h| ≤ Σ_r β_r``) instead of ``h_new`` alone (the paper's replace rule)."""
    if int(K) < 1:
        raise QbnnError(f"K must be >= 1, got {K}")
    t0 = time.perf_counter()
    _previous(penalties_prev, topology.n_weights)
    solve_fn = solve_fn or make_solve_fn("auto")
    sols = [solve_subnetwork(topology, X, y, penalties_prev, k=k, p=p, unit=unit, seed=seed,
                             round_index=round_index, solve_fn=solve_fn, margin=margin) for k in range(int(K))]
    h, mean, count = penalties_from_solutions(topology.n_weights, [s.weights for s in sols],
                                              [s.map for s in sols], beta)
    if accumulate and penalties_prev is not None:
        h = h + _previous(penalties_prev, topology.n_weights)
    return DropoutRound(int(round_index), h, mean, count, [s.topology for s in sols], [s.map for s in sols],
                        [s.weights for s in sols], [s.errors for s in sols], time.perf_counter() - t0)


def run_dropout(
    topology: Topology, X: np.ndarray, y: np.ndarray, *, R: int = 2, K: int = 4, p: float = 0.5,
    beta: float = 1.0, unit: str = "neuron", seed: int = 0, solve_fn: SolveFn | None = None,
    margin: float = 0.0, penalties0: np.ndarray | None = None, accumulate: bool = False,
    beta_schedule: str = "constant",
) -> list[DropoutRound]:
    """``R`` rounds; round ``r`` uses round ``r−1``'s penalties (``penalties0`` before round 0).

    ``result[-1].penalties`` is what to pass as ``weight_penalties`` to the full problem.
    ``accumulate`` sums the rounds' penalties (default: replace, as in the paper);
    ``beta_schedule`` sets round ``r``'s β (:func:`beta_at`).
    """
    if int(R) < 1:
        raise QbnnError(f"R must be >= 1, got {R}")
    out: list[DropoutRound] = []
    h = penalties0
    for r in range(int(R)):
        rd = dropout_round(topology, X, y, h, K=K, p=p, beta=beta_at(beta, beta_schedule, r, int(R)), unit=unit,
                           seed=seed, solve_fn=solve_fn, margin=margin, round_index=r, accumulate=accumulate)
        out.append(rd)
        h = rd.penalties
    return out
