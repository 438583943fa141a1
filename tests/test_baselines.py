import itertools

import numpy as np
import pytest
import torch

from qbnn.baselines import run_baseline
from qbnn.baselines.greedy import flip_losses, greedy_flip
from qbnn.baselines.ste import ste_forward, train_ste
from qbnn.topology import Topology


def planted(layers, n=64, seed=0):
    rng = np.random.default_rng(seed)
    t = Topology.layered(layers)
    X = rng.choice(np.array([-1, 1], dtype=np.int8), size=(n, layers[0]))
    w = rng.choice(np.array([-1, 1], dtype=np.int8), size=t.n_weights)
    return t, X, t.predict(w, X), w


DAG = {  # skip connection x0 -> out and hidden -> hidden edge: not a layered net
    "inputs": 5,
    "neurons": {
        "a": {"from": ["x0", "x1", "x2"], "bias": True},
        "b": {"from": ["x2", "x3", "x4", "a"], "bias": False},
        "out": {"from": ["a", "b", "x0"], "bias": True},
    },
    "outputs": ["out"],
}


@pytest.mark.parametrize("topo", [Topology.layered([6, 3, 2]), Topology.from_spec(DAG), Topology.layered([4, 2, 2, 1], bias=False)])
def test_ste_torch_forward_matches_topology_forward(topo):
    rng = np.random.default_rng(1)
    X = rng.choice([-1, 1], size=(40, topo.n_inputs)).astype(np.int8)
    for _ in range(5):
        u = torch.tensor(rng.normal(size=topo.n_weights))
        u[rng.integers(topo.n_weights)] = 0.0  # sign(0) = +1 for weights too
        Z, A = ste_forward(topo, u, X)
        Zr, Ar = topo.forward(np.where(u.numpy() >= 0, 1, -1), X)
        assert np.array_equal(Z.numpy(), Zr) and np.array_equal(A.numpy(), Ar)
    # zero pre-activations occur (even fan-in without bias) and give +1
    assert (Zr == 0).any() or topo.n_inputs != 4


def test_ste_gradient_flows():
    t, X, y, _ = planted([6, 2, 1], n=16)
    u = torch.zeros(t.n_weights, dtype=torch.float64).uniform_(-0.5, 0.5).requires_grad_(True)
    Z, _ = ste_forward(t, u, X)
    Z[:, -1].sum().backward()
    assert u.grad is not None and u.grad.abs().sum() > 0


def test_ste_learns_planted_network():
    t, X, y, _ = planted([8, 2, 1], n=48, seed=3)
    res = train_ste(t, X, y, epochs=100, seeds=1, seed=0)
    assert res["weights"].dtype == np.int8 and set(np.unique(res["weights"])) <= {-1, 1}
    assert res["train_errors"] == t.training_loss(res["weights"], X, y)
    assert res["train_errors"] < 0.25 * len(y)  # well beyond chance (50%)
    # a single perceptron is learnt exactly
    t1, X1, y1, _ = planted([8, 1], n=48, seed=4)
    assert train_ste(t1, X1, y1, epochs=200, seeds=1)["train_errors"] == 0


def test_ste_is_deterministic():
    t, X, y, _ = planted([6, 2, 1], n=32, seed=5)
    a = train_ste(t, X, y, epochs=30, seeds=1, seed=7)
    b = train_ste(t, X, y, epochs=30, seeds=1, seed=7)
    assert np.array_equal(a["weights"], b["weights"])


def test_flip_losses_match_single_evaluations():
    t, X, y, _ = planted([5, 2, 1], n=20, seed=6)
    w = np.ones(t.n_weights, dtype=np.int8)
    L = flip_losses(t, w, X, y)
    for j in range(t.n_weights):
        v = w.copy()
        v[j] = -1
        assert L[j] == t.training_loss(v, X, y)


def test_greedy_monotone_and_finds_planted_zero():
    t = Topology.layered([4, 2, 1])
    X = np.array(list(itertools.product([-1, 1], repeat=4)), dtype=np.int8)
    w = np.array([1, -1, 1, 1, -1, -1, 1, 1, 1, -1, 1, 1, -1], dtype=np.int8)
    y = t.predict(w, X)
    res = greedy_flip(t, X, y, restarts=30, seed=0)
    for hist in res["history"]:
        assert all(b <= a for a, b in zip(hist, hist[1:]))
    assert res["train_errors"] == 0 == t.training_loss(res["weights"], X, y)
    # starting at the planted weights: nothing to do
    assert greedy_flip(t, X, y, restarts=1, init=w)["history"][0] == [0]


def test_greedy_multi_output():
    rng = np.random.default_rng(2)
    t = Topology.layered([6, 3, 3])
    X = rng.choice([-1, 1], size=(30, 6)).astype(np.int8)
    y = rng.integers(0, 3, size=30)
    res = greedy_flip(t, X, y, restarts=2, seed=1)
    assert res["train_errors"] == min(res["restart_errors"])
    assert all(h[-1] <= h[0] for h in res["history"])


@pytest.mark.parametrize("method", ["ste", "greedy", "ste_greedy", "mlp", "logreg"])
def test_run_baseline_common_result(method):
    t, X, y, _ = planted([6, 2, 1], n=40, seed=8)
    res = run_baseline(method, t, X[:30], y[:30], X[30:], y[30:], seed=0, epochs=50, restarts=2)
    for k in ("method", "train_accuracy", "test_accuracy", "train_errors", "seconds"):
        assert k in res
    assert res["method"] == method and 0 <= res["test_accuracy"] <= 1
    assert res["train_errors"] == round((1 - res["train_accuracy"]) * 30)
    if method == "ste_greedy":
        assert res["train_errors"] <= res["ste_train_errors"]
    if method in ("ste", "greedy", "ste_greedy"):
        assert res["train_errors"] == t.training_loss(res["weights"], X[:30], y[:30])


def test_mlp_same_shape_fits_separable_data():
    t, X, y, _ = planted([8, 1], n=40, seed=9)
    res = run_baseline("mlp", Topology.layered([8, 3, 1]), X, y, X, y, epochs=300)
    assert res["train_accuracy"] == 1.0 and res["n_parameters"] == 8 * 3 + 3 + 4


def test_unknown_method():
    from qbnn.errors import QbnnError

    t, X, y, _ = planted([4, 1], n=8)
    with pytest.raises(QbnnError):
        run_baseline("sgd", t, X, y)


@pytest.mark.parametrize("topo", [Topology.layered([5, 3, 2]), Topology.from_spec(DAG), Topology.layered([4, 2, 2, 1], bias=False)])
def test_incremental_flip_losses_match_batch(topo):
    rng = np.random.default_rng(11)
    X = rng.choice([-1, 1], size=(25, topo.n_inputs)).astype(np.int8)
    y = rng.choice([-1, 1], size=25) if topo.n_outputs == 1 else rng.integers(0, topo.n_outputs, size=25)
    for _ in range(3):
        w = rng.choice([-1, 1], size=topo.n_weights).astype(np.int8)
        assert np.array_equal(flip_losses(topo, w, X, y), flip_losses(topo, w, X, y, method="batch"))


def test_two_output_topology_accepts_pm1_labels():
    t, X, y, _ = planted([6, 1], n=30, seed=12)
    res = run_baseline("greedy", Topology.layered([6, 2]), X, y, X, y, restarts=2)
    assert res["test_accuracy"] == res["train_accuracy"] > 0.5  # ±1 labels read as classes 0/1


def test_ste_minibatch_squared_hinge_and_threads_restored():
    t, X, y, _ = planted([6, 2, 1], n=40, seed=13)
    before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    res = train_ste(t, X, y, epochs=20, seeds=1, loss="squared_hinge", batch_size=16)
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == before
    assert res["train_errors"] == t.training_loss(res["weights"], X, y) < 20
    from qbnn.errors import QbnnError

    with pytest.raises(QbnnError):
        train_ste(t, X, y, loss="mse")
