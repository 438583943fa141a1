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
    from qbnn.bnn_solving.exact_milp import canonical_weights

    A, lo, hi, c, c0, lay = build_milp(topo, X, y, symmetry=False)
    As, los, his, _, _, lays = build_milp(topo, X, y, symmetry=True)
    for w in rng.choice(np.array([-1, 1], dtype=np.int8), size=(20, topo.n_weights)):
        x = np.asarray(_full_solution(topo, X, w, lay, A.shape[1]).col_value)
        Ax = A @ x
        assert np.all(Ax >= lo - 1e-9) and np.all(Ax <= hi + 1e-9)
        # the canonical representative satisfies the symmetry-reduced model, with the same loss
        cw = canonical_weights(topo, w)
        xs = np.asarray(_full_solution(topo, X, cw, lays, As.shape[1]).col_value)
        Axs = As @ xs
        assert np.all(Axs >= los - 1e-9) and np.all(Axs <= his + 1e-9)
        assert topo.training_loss(cw, X, y) == topo.training_loss(w, X, y)
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


@pytest.mark.parametrize("layers", [[4, 3, 1], [2, 2, 2, 1], [4, 2, 2]])
def test_symmetry_breaking_keeps_optimum_and_canonical_weights_same_network(layers):
    from qbnn.bnn_solving.exact_milp import canonical_weights, symmetry_fixes

    rng = np.random.default_rng(len(layers))
    topo = Topology.layered(layers, bias=True)
    S = 10
    X = rng.choice(np.array([-1, 1], dtype=np.int8), size=(S, layers[0]))
    y = rng.choice(np.array([-1, 1], dtype=np.int8), size=S) if layers[-1] == 1 else rng.integers(0, layers[-1], size=S)
    fixed, groups = symmetry_fixes(topo)
    assert fixed.any() and groups
    W = all_weights(topo.n_weights) if topo.n_weights <= 16 else rng.choice(np.array([-1, 1], dtype=np.int8), size=(3000, topo.n_weights))
    Xall = all_weights(layers[0])
    for w in W[rng.choice(len(W), size=50)]:
        cw = canonical_weights(topo, w)
        assert np.all(cw[fixed] == 1)
        np.testing.assert_array_equal(topo.forward(cw, Xall)[1][:, list(topo.outputs)],
                                      topo.forward(w, Xall)[1][:, list(topo.outputs)])
    r = solve_exact_milp(topo, X, y, time_limit=60)
    r0 = solve_exact_milp(topo, X, y, time_limit=60, symmetry=False)
    assert r.optimal and r0.optimal and r.objective == r0.objective
    if topo.n_weights <= 16:
        assert r.objective == topo.training_loss(W, X, y).min()
