"""The graded search surrogate of qbnn.training (hinge on output pre-activations): exact block minima,
state bookkeeping, reported loss stays the documented one, determinism, CLI validation."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qbnn.topology import Topology
from qbnn.training import TrainingProblem, train
from qbnn.training.blocks import NeuronBlock, solve_block_milp
from qbnn.training.objective import NetState, Surrogate
from qbnn.training.train import default_kappa, search_surrogate


def _task(seed: int, S: int, d: int, classes: int):
    rng = np.random.default_rng(seed)
    X = rng.choice(np.array([-1, 1], np.int8), size=(S, d))
    if classes == 1:
        return X, np.where(X[:, 0] * X[:, 1] + X[:, 2] >= 0, 1, -1).astype(np.int8)
    return X, ((X[:, :3] > 0).sum(axis=1) % classes).astype(np.int64)


def _brute_search_objective(p: TrainingProblem, w: np.ndarray, idx: np.ndarray) -> float:
    best = np.inf
    for bits in itertools.product((-1, 1), repeat=len(idx)):
        wb = w.copy()
        wb[idx] = bits
        best = min(best, p.search_objective(wb))
    return best


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 5), st.integers(1, 4),
       st.sampled_from([(0.0, 1.0, 2.0), (1.0, 1.0, 1.0), (0.0, 1.0, 3.0), (0.5, 2.0, 1.5)]))
def test_surrogate_block_solve_is_the_exact_block_minimum(seed, j, k, sg):
    """Hidden and output blocks under a graded surrogate: the exhaustive solve returns the brute-force
    minimum of the surrogate objective over all 2^k assignments and reports its exact value."""
    rng = np.random.default_rng(seed)
    X, y = _task(seed, S=15, d=5, classes=2)
    topo = Topology.layered([5, 3, 2])
    h = rng.normal(0, 0.3, topo.n_weights)
    p = TrainingProblem(topo, X, y, h, surrogate=Surrogate(*sg))
    w = rng.choice(np.array([-1, 1], np.int8), size=topo.n_weights)
    state = NetState(p, w)
    assert state.F == pytest.approx(p.search_objective(w), abs=1e-9)
    j = j % topo.n_neurons
    sl = topo.weight_slice(j)
    pos = np.sort(rng.choice(topo.fan_in(j), size=min(k, topo.fan_in(j)), replace=False))
    blk = NeuronBlock(state, j)
    assert blk.graded == (j in state.out_pos)
    assert blk.objective() == pytest.approx(state.F, abs=1e-9)
    F = blk.solve_exhaustive(pos, rng)
    w_new = w.copy()
    w_new[sl] = blk.w
    assert F == pytest.approx(p.search_objective(w_new), abs=1e-9)
    assert F == pytest.approx(_brute_search_objective(p, w, sl.start + pos), abs=1e-9)
    state.commit_neuron(j, blk.w.astype(np.int8))  # the incremental state agrees with a fresh pass
    assert state.F == pytest.approx(F, abs=1e-9)


def test_hinge_cost_values():
    sg = Surrogate(errors=1.0, hinge=1.0, kappa=2.0)
    Z = np.array([3, 2, 1, 0, -1, -3])
    np.testing.assert_allclose(sg.cost(Z, np.ones(6)), [0, 0, 1, 2, 4, 6])  # sign(0) = +1: z=0 is right for t=+1
    np.testing.assert_allclose(sg.cost(Z, -np.ones(6)), [6, 5, 4, 3, 1, 0])
    assert Surrogate().is_documented and not sg.is_documented


def test_whole_neuron_milp_refuses_a_graded_output():
    X, y = _task(0, S=12, d=4, classes=2)
    topo = Topology.layered([4, 2, 2])
    p = TrainingProblem(topo, X, y, surrogate=Surrogate(0.0, 1.0, 2.0))
    st_ = NetState(p, np.ones(topo.n_weights, np.int8))
    with pytest.raises(ValueError, match="documented"):
        solve_block_milp(st_, int(topo.outputs[0]))


@pytest.mark.parametrize("classes", [1, 3])
def test_hinge_training_reports_documented_loss_and_is_deterministic(classes):
    X, y = _task(3, S=40, d=6, classes=classes)
    topo = Topology.layered([6, 4, classes])
    runs = [train(topo, X, y, strategy="lns", steps=120, seed=2, kappa="rule") for _ in range(2)]
    r = runs[0]
    np.testing.assert_array_equal(runs[0].weights, runs[1].weights)
    assert r.info["surrogate"] == "hinge" and r.info["kappa"] == default_kappa(topo)
    cv = [train(topo, X, y, strategy="lns", steps=120, seed=2) for _ in range(2)]  # the default: κ by cv
    np.testing.assert_array_equal(cv[0].weights, cv[1].weights)
    assert cv[0].info["kappa_cv"][f"{cv[0].info['kappa']:g}"] == max(cv[0].info["kappa_cv"].values())
    assert cv[0].training_loss == topo.training_loss(cv[0].weights, X, y)
    assert r.training_loss == topo.training_loss(r.weights, X, y)  # documented loss, fresh forward pass
    assert r.training_loss <= r.warm_start_loss
    none = train(topo, X, y, strategy="lns", steps=120, seed=2, surrogate="none")
    assert none.info["surrogate"] == "none" and none.training_loss == topo.training_loss(none.weights, X, y)


def test_default_kappa_follows_output_fan_in():
    assert default_kappa(Topology.layered([64, 32, 10])) == 5.0  # fan-in 33
    assert default_kappa(Topology.layered([36, 24, 10])) == 4.0  # 25
    assert default_kappa(Topology.layered([30, 16, 1])) == 3.0  # 17
    assert default_kappa(Topology.layered([4, 1])) == 1.0  # never below 1
    assert search_surrogate(Topology.layered([4, 2, 1]), "none").is_documented
