"""Exactness tests of the QUBO compiler (docs/formulation.md)."""
import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import qbnn.compiler.build
from qbnn.compiler import compile_bnn, load_compiled, penalty_bound, save_compiled
from qbnn.errors import QbnnError
from qbnn.qubo import VAR_KINDS
from qbnn.topology import Topology

SET = settings(max_examples=30, deadline=None)


@st.composite
def instances(draw, max_inputs=4, max_samples=5):
    d = draw(st.integers(1, max_inputs))
    if draw(st.booleans()):  # layered
        hidden = draw(st.lists(st.integers(1, 3), min_size=0, max_size=2))
        n_out = draw(st.sampled_from([1, 1, 2, 3]))
        topo = Topology.from_spec({"layers": [d, *hidden, n_out], "bias": draw(st.booleans())})
    else:  # explicit DAG with skip connections
        nodes = [f"x{i}" for i in range(d)]
        neurons = {}
        for k in range(draw(st.integers(1, 4))):
            src = draw(st.lists(st.sampled_from(nodes), min_size=1, max_size=min(4, len(nodes)), unique=True))
            neurons[f"n{k}"] = {"from": src, "bias": draw(st.booleans())}
            nodes.append(f"n{k}")
        topo = Topology.from_spec({"inputs": d, "neurons": neurons})
    S = draw(st.integers(1, max_samples))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    X = rng.choice([-1, 1], size=(S, d)).astype(np.int8)
    y = rng.choice([-1, 1], size=S) if topo.n_outputs == 1 else rng.integers(0, topo.n_outputs, size=S)
    lam = draw(st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.5]))
    h = rng.normal(size=topo.n_weights) * draw(st.sampled_from([0.0, 0.3, 2.0]))
    return topo, X, y, lam, h, rng


@SET
@given(instances())
def test_repair_energy_equals_objective(inst):
    topo, X, y, lam, h, rng = inst
    cb = compile_bnn(topo, X, y, margin=lam, weight_penalties=h)
    q = cb.qubo  # upper triangle, unique pairs, no explicit zeros (built without from_coo)
    assert (q.rows < q.cols).all() and (q.values != 0).all()
    assert len(np.unique(q.rows * q.num_variables + q.cols)) == q.num_interactions
    W = rng.choice([-1, 1], size=(16, topo.n_weights)).astype(np.int8)
    x = cb.repair(W)
    F = cb.objective(W)
    np.testing.assert_allclose(cb.energy(x), F, rtol=0, atol=1e-9)
    assert (cb.violations(x) == 0).all()
    assert (cb.decode(x) == W).all()
    # λ = 0, h = 0: objective is the training loss
    if lam == 0:
        np.testing.assert_allclose(F - W @ h, topo.training_loss(W, X, y), atol=1e-9)
    # single states too
    assert cb.energy(cb.repair(W[0])) == pytest.approx(cb.objective(W[0]), abs=1e-9)


@SET
@given(instances())
def test_no_single_flip_of_nonweight_bit_lowers_repaired_energy(inst):
    topo, X, y, lam, h, rng = inst
    cb = compile_bnn(topo, X, y, margin=lam, weight_penalties=h)
    w = rng.choice([-1, 1], size=topo.n_weights)
    x = cb.repair(w)
    E0 = cb.energy(x)
    idx = np.arange(topo.n_weights, cb.num_variables)
    flips = np.repeat(x[None], len(idx), axis=0)
    flips[np.arange(len(idx)), idx] ^= 1
    assert (cb.energy(flips) >= E0 - 1e-9).all()
    assert (cb.violations(flips) >= 1).all()


def _tiny_cases():
    yield Topology.from_spec({"inputs": 2, "neurons": {"h": {"from": ["x0", "x1"]}, "out": {"from": ["h"], "bias": True}}}), 3
    yield Topology.from_spec({"inputs": 3, "neurons": {"out": {"from": ["x0", "x1", "x2"], "bias": True}}}), 3
    yield Topology.from_spec({"inputs": 2, "neurons": {"h": {"from": ["x0"]}, "out": {"from": ["h", "x1"]}}}), 3
    yield Topology.from_spec({"inputs": 2, "neurons": {"a": {"from": ["x0", "x1"]}, "b": {"from": ["x1"], "bias": True}},
                              "outputs": ["a", "b"]}), 3


def _exhaustive_min(q, chunk=1 << 16):
    n = q.num_variables
    best = np.inf
    bits = np.arange(n)
    for start in range(0, 1 << n, chunk):
        idx = np.arange(start, min(start + chunk, 1 << n))
        states = ((idx[:, None] >> bits[None]) & 1).astype(np.int8)
        best = min(best, float(q.energy(states).min()))
    return best


@pytest.mark.parametrize("lam,hscale", [(0.0, 0.0), (1.0, 0.0), (0.5, 0.7)])
@pytest.mark.parametrize("case", range(4))
def test_exhaustive_qubo_minimum_equals_brute_force(case, lam, hscale):
    topo, S = list(_tiny_cases())[case]
    rng = np.random.default_rng(case * 7 + int(lam * 10))
    X = rng.choice([-1, 1], size=(S, topo.n_inputs))
    y = rng.choice([-1, 1], size=S) if topo.n_outputs == 1 else rng.integers(0, topo.n_outputs, S)
    h = rng.normal(size=topo.n_weights) * hscale
    cb = compile_bnn(topo, X, y, margin=lam, weight_penalties=h)
    assert cb.num_variables <= 22
    allw = np.array(list(itertools.product([-1, 1], repeat=topo.n_weights)))
    Fmin = cb.objective(allw).min()
    assert _exhaustive_min(cb.qubo) == pytest.approx(Fmin, abs=1e-9)


def test_penalty_below_bound_breaks_exactness_somewhere(monkeypatch):
    """The bound is needed: a too-small penalty (bypassing the check) lets infeasible states win."""
    topo, S = list(_tiny_cases())[0]
    X = np.array([[1, 1], [1, 1], [-1, 1]])  # conflicting labels: min loss >= 1
    y = np.array([1, -1, 1])
    cb = compile_bnn(topo, X, y)
    assert cb.penalty == 1.0 == penalty_bound(topo, 0.0)
    monkeypatch.setattr(qbnn.compiler.build, "penalty_bound", lambda t, m: 0.0)
    weak = compile_bnn(topo, X, y, penalty=0.25)
    allw = np.array(list(itertools.product([-1, 1], repeat=topo.n_weights)))
    assert _exhaustive_min(weak.qubo) < cb.objective(allw).min() - 1e-9


def test_bad_inputs_raise():
    topo = Topology.layered([3, 2, 1])
    X = np.ones((4, 3), dtype=np.int8)
    y = np.array([1, -1, 1, -1])
    with pytest.raises(QbnnError, match="margin"):
        compile_bnn(topo, X, y, margin=-1)
    with pytest.raises(QbnnError, match="below the exactness bound"):
        compile_bnn(topo, X, y, margin=1.0, penalty=1.0)
    with pytest.raises(QbnnError, match="width"):
        compile_bnn(topo, np.ones((4, 2)), y)
    with pytest.raises(QbnnError, match="-1/\\+1"):
        compile_bnn(topo, X * 0, y)
    with pytest.raises(QbnnError, match="weight penalties"):
        compile_bnn(topo, X, y, weight_penalties=np.zeros(3))
    with pytest.raises(QbnnError):
        compile_bnn(topo, X, np.array([0, 1, 0, 1]))


def test_varmap_and_roundtrip(tmp_path):
    topo = Topology.from_spec({"inputs": 3, "neurons": {"h": {"from": ["x0", "x1"], "bias": True},
                                                        "out": {"from": ["h", "x2"], "bias": True}}})
    rng = np.random.default_rng(1)
    X = rng.choice([-1, 1], size=(6, 3))
    y = rng.choice([-1, 1], size=6)
    cb = compile_bnn(topo, X, y, margin=0.5, weight_penalties=rng.normal(size=topo.n_weights))
    q = cb.qubo
    assert (q.indices("weight") == np.arange(topo.n_weights)).all()
    assert len(q.indices("activation")) == 6 * 2 and len(q.indices("product")) == 6 * 1
    assert (q.varmap["sample"][q.indices("activation")] >= 0).all()
    ai = cb.activation_index()
    assert ai.shape == (6, 2) and (q.varmap["neuron"][ai] == [0, 1]).all() and (q.varmap["sample"][ai[:, 0]] == np.arange(6)).all()
    pi, pw, ps = cb.product_index(1)
    assert pi.shape == (6, 1) and (q.varmap["edge"][pi[:, 0]] == pw[0]).all() and ps.tolist() == [0]
    si, sc = cb.slack_index(0)
    assert si.shape == (6, len(sc)) and (q.varmap["kind"][si] == VAR_KINDS.index("slack")).all()
    w = rng.choice([-1, 1], size=topo.n_weights)
    x = cb.repair(w)
    Z, A = topo.forward(w, X)
    assert (x[ai] == (A > 0)).all() and (x[pi[:, 0]] == (w[pw[0]] > 0) * (A[:, 0] > 0)).all()
    assert q.attrs["formulation_version"] == 1 and q.attrs["penalty"] == cb.penalty
    p = tmp_path / "q.h5"
    save_compiled(cb, p)
    cb2 = load_compiled(p)
    W = rng.choice([-1, 1], size=(5, topo.n_weights))
    np.testing.assert_allclose(cb2.energy(cb2.repair(W)), cb.objective(W), atol=1e-9)
    np.testing.assert_array_equal(cb2.qubo.values, q.values)
    assert cb2.topology.to_json() == topo.to_json() and cb2.margin == 0.5
