"""Greedy single-bit-flip descent on the exact training loss, with random restarts.

Each step evaluates *all* single flips of the current weight vector at once (a batch of
candidate weight vectors through the vectorised ``Topology.forward``), moves to the best
strictly improving one, and allows a bounded number of sideways (equal-loss) moves on
plateaus.  The loss therefore never increases along a run.
"""
from __future__ import annotations

import time

import numpy as np

from qbnn.errors import QbnnError
from qbnn.topology import Topology

_CHUNK_ELEMENTS = 20_000_000  # int32 activations per forward batch (~80 MB)


def flip_losses(topology: Topology, w: np.ndarray, X: np.ndarray, y: np.ndarray, method: str = "incremental") -> np.ndarray:
    """Exact training loss after flipping each single bit of ``w``: int64 ``(n_weights,)``.

    ``method="batch"`` runs every candidate weight vector through ``Topology.training_loss``
    (chunked replica batches); ``"incremental"`` (default, same result) recomputes only the
    flipped neuron and its descendants from the base pass, which scales to wide inputs.
    """
    if method == "incremental":
        return _flip_losses_incremental(topology, np.asarray(w, dtype=np.int8), X, y)
    if method != "batch":
        raise QbnnError(f"unknown flip evaluation method {method!r}")
    w = np.asarray(w, dtype=np.int8)
    n = topology.n_weights
    per = max(1, X.shape[0] * (topology.n_inputs + topology.n_neurons))
    chunk = max(1, _CHUNK_ELEMENTS // per)
    out = np.empty(n, dtype=np.int64)
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        C = np.repeat(w[None], b - a, axis=0)
        C[np.arange(b - a), np.arange(a, b)] *= -1
        out[a:b] = topology.training_loss(C, X, y)
    return out


def _descendants(topology: Topology) -> list[list[int]]:
    """For each neuron, the neurons (topological order) that depend on it, transitively."""
    d, N = topology.n_inputs, topology.n_neurons
    readers: list[list[int]] = [[] for _ in range(N)]
    for j, src in enumerate(topology.sources):
        for s_ in src[src >= d]:
            readers[int(s_) - d].append(j)
    out = []
    for k in range(N):
        seen, stack = set(), list(readers[k])
        while stack:
            j = stack.pop()
            if j not in seen:
                seen.add(j)
                stack += readers[j]
        out.append(sorted(seen))
    return out


def _flip_losses_incremental(topology: Topology, w: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    t = topology
    d = t.n_inputs
    Z, A = t.forward(w, X)
    X32 = np.asarray(X).astype(np.int32)
    T = t.targets(y).astype(np.int32)  # (S, n_out)
    outs = list(t.outputs)
    out_pos = {o: i for i, o in enumerate(outs)}
    base_wrong = A[:, outs] != T  # (S, n_out)
    base_loss = int(base_wrong.sum())
    wrong_per_out = base_wrong.sum(axis=0)
    desc = _descendants(t)
    S = X32.shape[0]
    res = np.empty(t.n_weights, dtype=np.int64)

    def node_vals(node: int) -> np.ndarray:
        return X32[:, node] if node < d else A[:, node - d]

    for k in range(t.n_neurons):
        src = t.sources[k]
        off = int(t.weight_offsets[k])
        f = t.fan_in(k)
        wk = w[off : off + f].astype(np.int32)
        inputs = np.stack([node_vals(int(s_)) for s_ in src], axis=0)  # (e, S)
        if t.bias[k]:
            inputs = np.concatenate([inputs, np.ones((1, S), dtype=np.int32)], axis=0)
        chunk = max(1, 5_000_000 // max(1, S * (1 + len(desc[k]))))
        for a in range(0, f, chunk):
            b = min(f, a + chunk)
            zk = Z[None, :, k] - 2 * wk[a:b, None] * inputs[a:b]  # (c, S)
            delta = {k: np.where(zk >= 0, 1, -1) - A[None, :, k]}  # change of activation per candidate
            loss = np.full(b - a, base_loss, dtype=np.int64)
            changed = {k: np.where(zk >= 0, 1, -1)}
            for j in desc[k]:
                jsrc = t.sources[j]
                joff = int(t.weight_offsets[j])
                zj = np.broadcast_to(Z[None, :, j], (b - a, S)).copy()
                for e_, s_ in enumerate(jsrc):
                    m = int(s_) - d
                    if m in delta:
                        zj += int(w[joff + e_]) * delta[m]
                aj = np.where(zj >= 0, 1, -1)
                changed[j] = aj
                delta[j] = aj - A[None, :, j]
            for o in outs:
                if o in changed:
                    i = out_pos[o]
                    loss += (changed[o] != T[None, :, i]).sum(axis=1) - int(wrong_per_out[i])
            res[off + a : off + b] = loss
    return res


def greedy_flip(
    topology: Topology,
    X: np.ndarray,
    y: np.ndarray,
    *,
    restarts: int = 5,
    seed: int = 0,
    max_steps: int | None = None,
    plateau_moves: int = 20,
    init: np.ndarray | None = None,
    time_limit: float | None = None,
) -> dict:
    """Best-improvement bit-flip descent from ``restarts`` random ±1 starts.

    ``init`` (optional) replaces the first random start.  Returns a dict with ``weights``
    (int8), ``train_errors`` (exact), ``history`` (loss after each step, per restart),
    ``restart_errors`` and ``seconds``.
    """
    if restarts < 1:
        raise QbnnError("restarts must be >= 1")
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    n = topology.n_weights
    max_steps = max_steps if max_steps is not None else 10 * n
    best_w, best_e = None, None
    histories, finals = [], []
    for r in range(int(restarts)):
        if r == 0 and init is not None:
            w = np.asarray(init, dtype=np.int8).copy()
            if w.shape != (n,):
                raise QbnnError(f"init has shape {w.shape}, topology needs ({n},)")
        else:
            w = rng.choice(np.array([-1, 1], dtype=np.int8), size=n)
        e = topology.training_loss(w, X, y)
        hist = [int(e)]
        sideways = 0
        last = -1
        for _ in range(max_steps):
            if e == 0 or (time_limit is not None and time.perf_counter() - t0 > time_limit):
                break
            L = flip_losses(topology, w, X, y)
            if last >= 0:
                L[last] = np.iinfo(np.int64).max  # do not undo the previous move
            m = int(L.min())
            if m < e:
                cand = np.flatnonzero(L == m)
                sideways = 0
            elif m == e and sideways < plateau_moves:
                cand = np.flatnonzero(L == m)
                sideways += 1
            else:
                break
            j = int(rng.choice(cand))
            w[j] = -w[j]
            e = m
            last = j
            hist.append(int(e))
        histories.append(hist)
        finals.append(int(e))
        if best_e is None or e < best_e:
            best_w, best_e = w.copy(), int(e)
        if best_e == 0 or (time_limit is not None and time.perf_counter() - t0 > time_limit):
            break
    return {
        "method": "greedy",
        "weights": best_w,
        "train_errors": int(topology.training_loss(best_w, X, y)),
        "history": histories,
        "restart_errors": finals,
        "restarts": int(restarts),
        "seconds": time.perf_counter() - t0,
    }
