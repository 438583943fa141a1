"""``train``: data + topology -> trained network, through one of the decomposition strategies.

Strategies (``STRATEGIES``; every step is an exact discrete optimisation of the objective of
:mod:`qbnn.training.objective` — the compiled QUBO's energy at its optimal completion):

* ``lns`` — weight-block large-neighbourhood search, exhaustive 12-bit blocks over all samples;
* ``lns-pt`` — ``lns`` for 80 % of the budget, then parallel tempering on cluster moves
  (:mod:`qbnn.bnn_solving`, CUDA when present) from the LNS network for the endgame;
* ``lns-milp`` — LNS whose blocks are whole neurons solved by HiGHS (the block QUBO's MILP twin);
* ``consensus`` — sample-batched QUBOs with consensus penalties (:mod:`qbnn.training.consensus`);
* ``pt`` — parallel tempering on cluster moves over the full training set (no QUBO held).

The hinge margin κ of the searches is chosen by 3-fold cross-validation in the first 40 % of the budget
(``kappa="cv"``, the default; :mod:`qbnn.training.kappa_cv`), or given (``"rule"``: the fan-in rule, or a
number).

``validation=FRACTION`` (> 0; off by default) holds out a seeded stratified share of the samples and
returns the search's incumbent with the best validation accuracy (:mod:`qbnn.training.validation`).

Budgets: ``steps`` (block solves, consensus block solves, or PT steps) and/or ``time_limit``; with
steps only, a run is deterministic for its seed.
"""
from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qbnn.baselines.greedy import greedy_flip
from qbnn.errors import QbnnError
from qbnn.topology import Topology
from qbnn.training.block_qubo import block_qubo_size
from qbnn.training.consensus import batch_size_for_spins, consensus
from qbnn.training.kappa_cv import CV_SHARE, default_kappa, select_kappa
from qbnn.training.lns import lns
from qbnn.training.memory import guard_train
from qbnn.training.objective import DOCUMENTED, Surrogate, TrainingProblem, loss_name, prediction_rule
from qbnn.training.validation import IncumbentValidator, check_fraction, validation_split

STRATEGIES = ("lns", "lns-pt", "lns-milp", "consensus", "pt")
SURROGATES = ("hinge", "none")  # what the block searches minimise (the reported loss is always documented)
DEFAULT_BLOCK_SIZE = 8
DEFAULT_KAPPA: float | str | None = "cv"  # the hinge margin by 3-fold cross-validation (docs/training.md)
WARM_STARTS = ("none", "ste", "greedy")
DEFAULT_STRATEGY = "lns"
PT_REPLICAS = 16
ENDGAME_SHARE = 0.2


@dataclass
class TrainResult:
    weights: np.ndarray
    strategy: str
    warm_start: str
    training_loss: float  # objective of the returned weights by a fresh forward pass
    train_errors: int  # documented loss (errors / Hamming) without penalties
    seconds: float
    seed: int
    warm_start_loss: float | None = None
    trace: list[tuple[int, float, float]] = field(default_factory=list)
    snapshots: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (seconds since start, weights)
    info: dict[str, Any] = field(default_factory=dict)

    def summary(self, topology: Topology) -> dict[str, Any]:
        return {"strategy": self.strategy, "warm_start": self.warm_start, "seed": self.seed,
                "training_loss": self.training_loss, "train_loss_errors": self.train_errors,
                "warm_start_loss": self.warm_start_loss, "loss": loss_name(topology),
                "prediction": prediction_rule(topology), "seconds": round(self.seconds, 3), **self.info}


def warm_start_weights(kind: str, problem: TrainingProblem, seed: int) -> np.ndarray:
    """Initial weights: random (``none``, seeded), one STE run (``ste``) or greedy flips (``greedy``)."""
    topo = problem.topology
    if kind == "none":
        return np.random.default_rng(seed).choice(np.array([-1, 1], dtype=np.int8), size=topo.n_weights)
    if kind == "ste":
        from qbnn.baselines.ste import train_ste  # torch: only when asked for

        return np.asarray(train_ste(topo, problem.X, problem.y, seed=seed, seeds=1)["weights"], dtype=np.int8)
    if kind == "greedy":
        return np.asarray(greedy_flip(topo, problem.X, problem.y, seed=seed, restarts=1)["weights"], dtype=np.int8)
    raise QbnnError(f"unknown warm start {kind!r} (choose {', '.join(WARM_STARTS)})")


def check_kappa(kappa: float | str | None) -> float | str | None:
    """``None`` or ``"rule"`` (the fan-in rule, returned as ``None``), ``"cv"``, or a finite number ≥ 0 (a
    numeric string is read as one)."""
    if kappa is None or kappa == "rule":
        return None
    if kappa == "cv":
        return kappa
    try:
        k = float(kappa)
    except (TypeError, ValueError):
        raise QbnnError(f"kappa must be a number >= 0, 'rule' or 'cv', got {kappa!r}") from None
    if not (np.isfinite(k) and k >= 0):
        raise QbnnError(f"kappa must be a finite number >= 0, 'rule' or 'cv', got {kappa!r}")
    return k


def search_surrogate(topology: Topology, kind: str, kappa: float | None = None) -> Surrogate:
    """The per-output cost the block searches minimise: ``hinge`` = ``max(0, κ − t·z)``, ``none`` = the
    documented 0/1 loss."""
    if kind == "none":
        return DOCUMENTED
    return Surrogate(errors=0.0, hinge=1.0, kappa=default_kappa(topology) if kappa is None else float(kappa))


def _largest_block_qubo(topology: Topology, n_samples: int, block_size: int | None) -> int:
    """Variables of the largest block QUBO the LNS solves (first ``block_size`` weights of each neuron,
    whole neurons for ``None``) over all samples: what an Ising machine would need per block."""
    sizes = []
    for j in range(topology.n_neurons):
        sl = topology.weight_slice(j)
        stop = sl.stop if block_size is None else min(sl.stop, sl.start + block_size)
        sizes.append(block_qubo_size(topology, np.arange(sl.start, stop), n_samples))
    return int(max(sizes))


def _pt(problem, w, steps, time_limit, seed, device):
    from qbnn.bnn_solving import solve_bnn  # torch: only for the pt endgame

    res = solve_bnn(problem, "pt", replicas=PT_REPLICAS, steps=steps if steps is not None else 10**9,
                    time_limit=time_limit, seed=seed, device=device, init_weights=w[None],
                    target=-float(np.abs(problem.weight_penalties).sum()))  # stop at the lower bound
    return np.asarray(res.weights, dtype=np.int8), res.info.get("steps", 0), res.trace


def train(topology: Topology, X: np.ndarray, y: np.ndarray, *, strategy: str = DEFAULT_STRATEGY,
          warm_start: str = "none", time_limit: float | None = None, steps: int | None = None, seed: int = 0,
          device: str = "cpu", max_spins: int | None = None, weight_penalties: np.ndarray | None = None,
          block_size: int = DEFAULT_BLOCK_SIZE, batch_size: int | None = None, surrogate: str = "hinge",
          kappa: float | str | None = DEFAULT_KAPPA, margin_phase: bool = True, validation: float | None = 0.0
          ) -> TrainResult:
    """Train ``topology`` on ``(X, y)`` with ``strategy`` (see module docstring). ``kappa``: the hinge
    margin — ``None``/``"rule"`` the fan-in rule, a number, or ``"cv"`` (chosen by 3-fold cross-validation in the
    first 40 % of the budget, :mod:`qbnn.training.kappa_cv`)."""
    if strategy not in STRATEGIES:
        raise QbnnError(f"unknown strategy {strategy!r} (choose {', '.join(STRATEGIES)})")
    if warm_start not in WARM_STARTS:
        raise QbnnError(f"unknown warm start {warm_start!r} (choose {', '.join(WARM_STARTS)})")
    if steps is None and time_limit is None:
        raise QbnnError("give a time limit or a step budget")
    if time_limit is not None and not time_limit > 0:
        raise QbnnError(f"time limit must be positive, got {time_limit}")
    if steps is not None and steps < 1:
        raise QbnnError(f"steps must be >= 1, got {steps}")
    if not 1 <= block_size <= 16:
        raise QbnnError(f"block size must lie in 1..16, got {block_size}")
    if surrogate not in SURROGATES:
        raise QbnnError(f"unknown surrogate {surrogate!r} (choose {', '.join(SURROGATES)})")
    kappa = check_kappa(kappa)
    fraction = check_fraction(validation)
    val_X = val_y = None
    if fraction > 0:  # before anything sees the data: the search fits on the rest only
        fit_idx, val_idx = validation_split(y, fraction, seed)
        val_X, val_y, X, y = X[val_idx], y[val_idx], X[fit_idx], y[fit_idx]
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    problem = TrainingProblem(topology, X, y, weight_penalties)
    B = batch_size if batch_size is not None else batch_size_for_spins(topology, max_spins, problem.n_samples)
    guard_train(topology, problem.n_samples, strategy, block_size, B, PT_REPLICAS, device)
    t0 = time.perf_counter()
    w0 = warm_start_weights(warm_start, problem, seed)
    F0 = float(problem.objective(w0))
    validator = None if val_X is None else IncumbentValidator(topology, val_X, val_y, problem.objective)
    if validator is not None:
        validator.offer(0, time.perf_counter() - t0, w0)  # the warm start is incumbent 0
    left = None if time_limit is None else max(time_limit - (time.perf_counter() - t0), 1e-3)
    info: dict[str, Any] = {}
    snapshots: list[tuple[float, np.ndarray]] = []
    kind = surrogate if strategy in ("lns", "lns-pt", "consensus") else "none"
    if kappa == "cv":
        if kind == "hinge":  # the fold runs get CV_SHARE of what is left; the final run the rest
            choice = select_kappa(topology, problem.X, problem.y, seed=seed, block_size=block_size,
                                  time_limit=None if left is None else CV_SHARE * left,
                                  steps=None if steps is None else max(1, int(CV_SHARE * steps)),
                                  margin_phase=margin_phase, weight_penalties=problem.weight_penalties)
            kappa = choice.kappa
            info.update(choice.summary())
            if warm_start == "none" and choice.start is not None:  # no seed: go on from the folds' best network
                w0 = np.asarray(choice.start, dtype=np.int8)
                F0 = float(problem.objective(w0))
                info["cv_start_fold"] = choice.start_fold
            if steps is not None and choice.folds:
                steps = max(1, steps - int(CV_SHARE * steps))
            left = None if time_limit is None else max(time_limit - (time.perf_counter() - t0), 1e-3)
        else:
            kappa = None  # no hinge to choose a margin for
    sg = search_surrogate(topology, kind, kappa)
    search = problem.with_surrogate(sg)
    info.update(surrogate=surrogate if not sg.is_documented else "none", kappa=sg.kappa)
    if strategy in ("lns", "lns-milp", "lns-pt"):
        t_lns = left if (strategy != "lns-pt" or left is None) else (1 - ENDGAME_SHARE) * left
        s_lns = steps if (strategy != "lns-pt" or steps is None) else max(1, int((1 - ENDGAME_SHARE) * steps))
        t_lns0 = time.perf_counter()
        observe = None if validator is None else (
            lambda step, sec, wi: validator.offer(step, sec + (t_lns0 - t0), wi))
        r = lns(search, w0, steps=s_lns, time_limit=t_lns, seed=seed, block_size=block_size,
                sub_solver="milp" if strategy == "lns-milp" else "exhaustive", margin_phase=margin_phase,
                on_incumbent=observe)
        w, trace = r.weights, r.trace
        snapshots = [(t + (t_lns0 - t0), ws) for t, ws in r.snapshots]
        info.update(block_solves=r.steps, sweeps=r.sweeps, kicks=r.kicks, block_size=block_size,
                    margin_phase=margin_phase, margin_levels=r.margin_levels, final_kappa=r.kappa)
        if strategy == "lns-pt":
            t_pt = None if left is None else max(left - (time.perf_counter() - t0), 0.05)
            s_pt = None if steps is None else max(1, steps - s_lns)
            w_pt, pt_steps, _ = _pt(problem, w, s_pt, t_pt, seed, device)
            if problem.objective(w_pt) <= problem.objective(w):
                w = w_pt
            info.update(pt_steps=pt_steps, lns_loss=float(r.objective))
    elif strategy == "consensus":
        r = consensus(search, w0, steps=steps, time_limit=left, seed=seed, batch_size=B, block_size=block_size)
        w, trace = r.weights, r.trace
        info.update(rounds=r.rounds, block_solves=r.steps, batch_size=r.batch_size)
    else:  # pt
        w, pt_steps, trace = _pt(problem, w0, steps, left, seed, device)
        info.update(pt_steps=pt_steps, replicas=PT_REPLICAS)
    w = np.asarray(w, dtype=np.int8)
    F = float(problem.objective(w))  # fresh forward pass
    if F > F0:  # a strategy never returns worse than its start
        w, F = w0, F0
    if validator is not None:  # the final network is offered too (pt / consensus: the only one after w0)
        validator.offer(int(info.get("block_solves", 0)) + int(info.get("pt_steps", 0)), time.perf_counter() - t0, w)
        w = validator.kept.weights
        F = float(problem.objective(w))
        info.update(validator.summary(fraction, problem.n_samples))
    seconds = time.perf_counter() - t0
    if strategy.startswith("lns"):  # reporting only, outside the timed part
        info["block_qubo_variables"] = _largest_block_qubo(topology, problem.n_samples,
                                                           None if strategy == "lns-milp" else block_size)
    info["device"] = device
    info["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return TrainResult(w, strategy, warm_start, F, int(topology.training_loss(w, problem.X, problem.y)),
                       seconds, int(seed), F0, trace, snapshots, info)
