"""Annealed Metropolis and parallel tempering over feasibility-preserving cluster moves.

Every state visited is ``repair(w)`` for some weight vector ``w``: the chain never leaves the
feasible set, so the energy it sees is exactly ``F(w)`` (see :mod:`qbnn.bnn_solving.moves`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from qbnn.bnn_solving.moves import MoveState


@dataclass
class SearchResult:
    """Best weights found by a move-based search."""

    weights: np.ndarray  # int8 (n_w,)
    objective: float  # F(weights)
    trace: list[tuple[int, float, float]] = field(default_factory=list)  # (step, seconds, best F)
    steps: int = 0
    wall_time: float = 0.0
    accept_rate: float = 0.0


def _generator(seed: int, device: torch.device) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


class _Best:
    def __init__(self, state: MoveState) -> None:
        i = int(torch.argmin(state.F))
        self.F = float(state.F[i])
        self.w = state.weights()[i].copy()

    def update(self, state: MoveState) -> bool:
        i = int(torch.argmin(state.F))
        if float(state.F[i]) < self.F - 1e-9:
            self.F = float(state.F[i])
            self.w = state.W[i].cpu().numpy().astype(np.int8)
            return True
        return False


def _metropolis_step(state: MoveState, beta: torch.Tensor, g: torch.Generator, candidates: int = 1,
                     pair_prob: float = 0.0) -> torch.Tensor:
    """One move per replica: ``candidates`` random flips are scored in one batch, each gets a
    Metropolis test, and the first accepted one (in random proposal order) is committed — with
    ``candidates=1`` plain Metropolis; more candidates amortise the per-step overhead at low
    temperature where most single proposals are rejected. With ``pair_prob > 0`` that fraction of
    proposals are pair moves (two edges into the same neuron flipped together)."""
    R, C = state.R, int(candidates)
    idx = torch.randint(0, state.n_w, (R, C), generator=g, device=state.device)
    idx2 = None
    if pair_prob > 0:
        use = torch.rand((R, C), generator=g, device=state.device) < pair_prob
        idx2 = torch.where(use, state.pair_partner(idx, g), torch.full_like(idx, -1))
    delta, Z, V = state.propagate(idx, idx2)
    u = torch.rand((R, C), generator=g, device=state.device, dtype=torch.float64)
    b = beta[:, None] if beta.ndim else beta
    ok = (delta <= 0) | (u < torch.exp(-b * delta.clamp(min=0)))
    acc = ok.any(dim=1)
    first = torch.argmax(ok.to(torch.int8), dim=1)
    state.accept(idx, delta, Z, V, acc, first, idx2)
    return acc


def greedy_descent(state: MoveState, max_steps: int = 10_000, deadline: float | None = None,
                   max_elems: int = 2_000_000) -> int:
    """Steepest descent on all single-flip deltas until every replica is at a local minimum.

    Candidates are evaluated in chunks of at most ``max_elems`` tensor elements; the deadline is
    checked between chunks."""
    steps = 0
    R, n_w = state.R, state.n_w
    per_cand = R * state.S * state.N
    chunk = max(1, min(n_w, max_elems // max(per_cand, 1)))
    all_idx = torch.arange(n_w, device=state.device)[None].expand(R, n_w)
    while steps < max_steps:
        best = torch.full((R,), float("inf"), dtype=torch.float64, device=state.device)
        arg = torch.zeros(R, dtype=torch.long, device=state.device)
        for c0 in range(0, n_w, chunk):
            if deadline is not None and time.perf_counter() > deadline:
                return steps
            idx = all_idx[:, c0: c0 + chunk]
            delta = state.propagate(idx)[0]
            b, c = torch.min(delta, dim=1)
            better = b < best
            best = torch.where(better, b, best)
            arg = torch.where(better, idx[torch.arange(R, device=state.device), c], arg)
        mask = best < -1e-9
        if not bool(mask.any()):
            break
        sel = arg[:, None]
        delta, Z, V = state.propagate(sel)
        state.accept(sel, delta, Z, V, mask)
        steps += 1
    return steps


def _polish(state: MoveState, deadline: float | None, keep: int = 4) -> None:
    """Greedy descent on the ``keep`` best replicas (a short grace period past the deadline)."""
    order = torch.argsort(state.F)[: min(keep, state.R)]
    state.permute(order)
    greedy_descent(state, deadline=None if deadline is None else max(deadline, time.perf_counter()) + 0.25)


def anneal_moves(state: MoveState, steps: int = 2000, beta0: float = 0.3, beta1: float = 8.0,
                 seed: int = 0, time_limit: float | None = None, polish: bool = True,
                 target: float | None = None, candidates: int = 1, pair_prob: float = 0.5) -> SearchResult:
    """Annealed Metropolis: all replicas follow a geometric β schedule ``beta0 -> beta1`` over
    ``steps`` steps, or over ``time_limit`` when that runs out first (then the schedule depends on
    elapsed time and runs are reproducible only without a time limit)."""
    t0 = time.perf_counter()
    deadline = None if time_limit is None else t0 + float(time_limit)
    g = _generator(seed, state.device)
    best = _Best(state)
    trace = [(0, 0.0, best.F)]
    acc_n = 0
    n_steps = max(int(steps), 1)
    done = 0
    for t in range(n_steps):
        now = time.perf_counter()
        if (deadline is not None and now > deadline) or (target is not None and best.F <= target + 1e-9):
            break
        # schedule progress: steps done or budget used, whichever is further (a huge step count
        # under a time limit still cools down)
        frac = t / max(n_steps - 1, 1)
        if deadline is not None:
            frac = max(frac, (now - t0) / float(time_limit))
        b = beta0 * (beta1 / beta0) ** min(frac, 1.0)
        done = t + 1
        acc, reached = _tracked_step(state, torch.tensor(float(b), dtype=torch.float64, device=state.device), g,
                                     candidates, pair_prob, best, trace, done, t0, target)
        acc_n += acc
        if reached:
            break
    if polish and (target is None or best.F > target + 1e-9):
        _polish(state, deadline)
        if best.update(state):
            trace.append((done, time.perf_counter() - t0, best.F))
    return SearchResult(best.w, best.F, trace, done, time.perf_counter() - t0, acc_n / max(done * state.R, 1))


def _tracked_step(state, beta, g, candidates, pair_prob, best, trace, step, t0, target) -> tuple[int, bool]:
    """One Metropolis step at ``beta`` (scalar or per replica); records an improvement in ``trace``.
    Returns (accepted moves, target reached)."""
    acc = int(_metropolis_step(state, beta, g, candidates, pair_prob).sum())
    if best.update(state):
        trace.append((step, time.perf_counter() - t0, best.F))
        if target is not None and best.F <= target + 1e-9:
            return acc, True
    return acc, False


def parallel_tempering(state: MoveState, steps: int = 2000, beta_min: float = 0.3, beta_max: float = 8.0,
                       n_temps: int | None = None, exchange_every: int = 10, seed: int = 0,
                       time_limit: float | None = None, polish: bool = True,
                 target: float | None = None, candidates: int = 1, pair_prob: float = 0.5) -> SearchResult:
    """Replica exchange: replicas are split into ``n_temps`` β levels (geometric ladder), each
    level holding ``R // n_temps`` independent chains; neighbouring levels swap configurations
    with the usual Metropolis criterion ``min(1, exp((β_i − β_j)(F_i − F_j)))``."""
    t0 = time.perf_counter()
    deadline = None if time_limit is None else t0 + float(time_limit)
    g = _generator(seed, state.device)
    R = state.R
    n_temps = int(n_temps or min(R, 8))
    n_temps = max(1, min(n_temps, R))
    per = R // n_temps
    ladder = torch.as_tensor(np.geomspace(beta_min, beta_max, n_temps), dtype=torch.float64, device=state.device)
    level = torch.arange(R, device=state.device) // max(per, 1)
    level = level.clamp(max=n_temps - 1)
    beta = ladder[level]
    best = _Best(state)
    trace = [(0, 0.0, best.F)]
    acc_n = 0
    done = 0
    for t in range(int(steps)):
        if (deadline is not None and time.perf_counter() > deadline) or (target is not None and best.F <= target + 1e-9):
            break
        done = t + 1
        acc, reached = _tracked_step(state, beta, g, candidates, pair_prob, best, trace, done, t0, target)
        acc_n += acc
        if reached:
            break
        if n_temps > 1 and done % exchange_every == 0:
            # alternate even / odd neighbour pairs; chain c of level l pairs with chain c of level l+1
            start = (done // exchange_every) % 2
            perm = torch.arange(R, device=state.device)
            for l in range(start, n_temps - 1, 2):
                a = torch.arange(l * per, (l + 1) * per, device=state.device)
                b = a + per
                x = (ladder[l + 1] - ladder[l]) * (state.F[b] - state.F[a])
                u = torch.rand(per, generator=g, device=state.device, dtype=torch.float64)
                sw = (x >= 0) | (u < torch.exp(x.clamp(max=0)))
                perm[a[sw]], perm[b[sw]] = b[sw], a[sw]
            state.permute(perm)
    if polish and (target is None or best.F > target + 1e-9):
        _polish(state, deadline)
        if best.update(state):
            trace.append((done, time.perf_counter() - t0, best.F))
    return SearchResult(best.w, best.F, trace, done, time.perf_counter() - t0, acc_n / max(done * R, 1))
