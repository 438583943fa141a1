"""Exact MILP of BNN training (qbnn.bnn_solving.exact_milp): the proven optimum equals exhaustive
search on tiny instances (random DAGs with skip connections, multi-output), warm starts are
honoured, and the move-based strategies reach the proven optimum of a small digits instance."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from qbnn.bnn_solving import BNNProblem, solve_bnn
from qbnn.bnn_solving.exact_milp import build_milp, solve_exact_milp
from qbnn.topology import Topology


def random_topology(rng: np.random.Generator, d: int, n_neurons: int, n_out: int = 1) -> Topology:
    neurons = {}
    for k in range(n_neurons):
        pool = [f"x{i}" for i in range(d)] + [f"n{j}" for j in range(k)]
        m = int(rng.integers(1, min(len(pool), 4) + 1))
        src = [str(s) for s in rng.choice(pool, size=m, replace=False)]
        neurons[f"n{k}"] = {"from": src, "bias": bool(rng.integers(0, 2))}
    outs = [f"n{n_neurons - 1 - i}" for i in range(n_out)][::-1]
    return Topology.from_spec({"inputs": d, "neurons": neurons, "outputs": outs})


def all_weights(n: int) -> np.ndarray:
    return np.array(list(itertools.product((-1, 1), repeat=n)), dtype=np.int8)


@pytest.mark.parametrize("seed", range(10))
def test_milp_optimum_equals_exhaustive(seed):
    rng = np.random.default_rng(seed)
    n_out = 1 + seed % 2
    topo = random_topology(rng, 3, 4, n_out)
    S = int(rng.integers(3, 12))
    X = rng.choice(np.array([-1, 1], dtype=np.int8), size=(S, 3))
    y = rng.choice(np.array([-1, 1], dtype=np.int8), size=S) if n_out == 1 else rng.integers(0, 2, size=S)
    losses = topo.training_loss(all_weights(topo.n_weights), X, y)
    r = solve_exact_milp(topo, X, y, time_limit=30)
    assert r.optimal and r.status == "Optimal"
    assert r.objective == losses.min() == r.bound
    assert topo.training_loss(r.weights, X, y) == losses.min()
    # warm start from the worst weights: still the optimum
    r2 = solve_exact_milp(topo, X, y, time_limit=30, warm_weights=all_weights(topo.n_weights)[np.argmax(losses)])
    assert r2.optimal and r2.objective == losses.min()


def test_milp_rows_hold_exactly_for_the_forward_pass():
    """For any weights, the forward pass's activations satisfy every MILP row and the objective is the loss."""
    from qbnn.bnn_solving.exact_milp import _full_solution

    rng = np.random.default_rng(1)
    topo = Topology.layered([5, 3, 2, 1], bias=True)
    X = rng.choice(np.array([-1, 1], dtype=np.int8), size=(9, 5))
    y = rng.choice(np.array([-1, 1], dtype=np.int8), size=9)
    A, lo, hi, c, c0, lay = build_milp(topo, X, y)
    for w in rng.choice(np.array([-1, 1], dtype=np.int8), size=(20, topo.n_weights)):
        x = np.asarray(_full_solution(topo, X, w, lay, A.shape[1]).col_value)
        Ax = A @ x
        assert np.all(Ax >= lo - 1e-9) and np.all(Ax <= hi + 1e-9)
        assert c @ x + c0 == pytest.approx(topo.training_loss(w, X, y))
        # flipping any activation bit of that solution breaks a row (activations are forced)
        j = int(rng.integers(lay["act"].size))
        x2 = x.copy()
        x2[lay["act"].ravel()[j]] = 1 - x2[lay["act"].ravel()[j]]
        Ax2 = A @ x2
        assert not (np.all(Ax2 >= lo - 1e-9) and np.all(Ax2 <= hi + 1e-9))


def test_strategies_reach_proven_optimum_on_small_digits():
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits

    d = load_digits()
    m = np.isin(d.target, (3, 8))
    imgs = d.images[m][:40].reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 16)
    X = np.where(imgs >= imgs.mean(), 1, -1).astype(np.int8)
    y = np.where(d.target[m][:40] == 8, 1, -1).astype(np.int8)
    topo = Topology.layered([16, 2, 1], bias=True)
    r = solve_exact_milp(topo, X, y, time_limit=60)
    assert r.optimal
    for strat in ("pt", "ste-pt"):
        s = solve_bnn(BNNProblem(topo, X, y), strat, replicas=16, steps=3000, time_limit=5.0, seed=0)
        assert s.train_errors >= r.objective  # nothing beats a proven optimum
        assert s.train_errors == r.objective
