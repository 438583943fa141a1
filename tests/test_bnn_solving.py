"""Tests for qbnn.bnn_solving: exact incremental deltas, optimality on tiny instances, determinism,
feasibility of returned states (when the compiler is available)."""
from __future__ import annotations

import importlib
import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from qbnn.bnn_solving import (AffineResidual, BNNProblem, MoveState, STRATEGIES, fit_affine_residual,
                              parallel_tempering, solve_bnn)
from qbnn.topology import Topology


@pytest.fixture(autouse=True)
def _one_torch_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def random_topology(rng: np.random.Generator, d: int, n_neurons: int) -> Topology:
    """Random DAG with skip connections (each neuron reads a random subset of inputs + earlier neurons)."""
    neurons = {}
    for k in range(n_neurons):
        pool = [f"x{i}" for i in range(d)] + [f"n{j}" for j in range(k)]
        m = int(rng.integers(1, min(len(pool), 4) + 1))
        src = list(rng.choice(pool, size=m, replace=False))
        neurons[f"n{k}"] = {"from": [str(s) for s in src], "bias": bool(rng.integers(0, 2))}
    return Topology.from_spec({"inputs": d, "neurons": neurons, "outputs": [f"n{n_neurons - 1}"]})


def tiny_problem(seed: int = 0, S: int = 10):
    rng = np.random.default_rng(seed)
    topo = Topology.from_spec({"inputs": 3, "neurons": {
        "h0": {"from": ["x0", "x1", "x2"], "bias": False},
        "h1": {"from": ["x0", "x2"], "bias": True},
        "out": {"from": ["h0", "h1", "x1"], "bias": False}}})
    X = rng.choice(np.array([-1, 1], dtype=np.int8), size=(S, 3))
    y = rng.choice(np.array([-1, 1], dtype=np.int8), size=S)
    return topo, X, y


def all_weights(n: int) -> np.ndarray:
    return np.array(list(itertools.product((-1, 1), repeat=n)), dtype=np.int8)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(1, 4), n=st.integers(1, 4), S=st.integers(1, 6),
       R=st.integers(1, 3), affine=st.booleans(), margin=st.sampled_from([0.0, 0.5, 2.0]))
def test_incremental_delta_equals_full_recomputation(seed, d, n, S, R, affine, margin):
    rng = np.random.default_rng(seed)
    topo = random_topology(rng, d, n)
    X = rng.choice(np.array([-1, 1], dtype=np.int8), size=(S, d))
    y = rng.choice(np.array([-1, 1], dtype=np.int8), size=S)
    W = rng.choice(np.array([-1, 1], dtype=np.int8), size=(R, topo.n_weights))
    h = rng.normal(size=topo.n_weights) if affine else np.zeros(topo.n_weights)
    c = float(rng.normal())

    fan = np.array([topo.fan_in(k) for k in range(topo.n_neurons)], dtype=np.float64)

    def F(W):
        W = np.atleast_2d(W)
        Z, _ = topo.forward(W, X)
        return topo.training_loss(W, X, y) + c + W @ h - margin * (np.abs(Z) / fan).sum(axis=(1, 2))

    st_ = MoveState(topo, X, y, W, residual=AffineResidual(c, h), margin=margin)
    np.testing.assert_allclose(st_.F.numpy(), F(W))
    D = st_.all_flip_deltas().numpy()
    for r in range(R):
        flips = np.repeat(W[r][None], topo.n_weights, axis=0)
        flips[np.arange(topo.n_weights), np.arange(topo.n_weights)] *= -1
        np.testing.assert_allclose(D[r], F(flips) - F(W[r]), atol=1e-9)
    # accepting a move keeps Z, V consistent with a fresh forward pass
    idx = torch.as_tensor(rng.integers(0, topo.n_weights, size=(R, 1)))
    delta, Z, V = st_.propagate(idx)
    st_.accept(idx, delta, Z, V, torch.ones(R, dtype=torch.bool))
    Wn = st_.weights()
    Zf, Af = topo.forward(Wn, X)
    np.testing.assert_array_equal(st_.Z.numpy().astype(np.int32), Zf)
    np.testing.assert_array_equal(st_.A.numpy().astype(np.int32), Af)
    np.testing.assert_allclose(st_.F.numpy(), F(Wn), atol=1e-9)


def test_fit_affine_residual_and_fallback():
    topo, X, y = tiny_problem()
    h = np.linspace(-1, 1, topo.n_weights)
    lin = lambda W: topo.training_loss(np.atleast_2d(W), X, y) + 0.25 + np.atleast_2d(W) @ h
    res = fit_affine_residual(lin, topo, X, y)
    assert res is not None and np.allclose(res.h, h) and abs(res.c - 0.25) < 1e-9
    quad = lambda W: topo.training_loss(np.atleast_2d(W), X, y) + 0.1 * (np.atleast_2d(W).sum(1) ** 2)
    assert fit_affine_residual(quad, topo, X, y) is None
    # exact fallback for a non-affine objective: deltas still exact
    W = np.ones((2, topo.n_weights), dtype=np.int8)
    s = MoveState(topo, X, y, W, residual=None, objective=quad)
    D = s.all_flip_deltas().numpy()
    flips = np.repeat(W[0][None], topo.n_weights, axis=0)
    flips[np.arange(topo.n_weights), np.arange(topo.n_weights)] *= -1
    np.testing.assert_allclose(D[0], quad(flips) - quad(W[:1]))


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_finds_exhaustive_optimum_on_tiny_instance(strategy):
    topo, X, y = tiny_problem(seed=3)
    prob = BNNProblem(topo, X, y)
    opt = prob.objective(all_weights(topo.n_weights)).min()
    r = solve_bnn(prob, strategy, replicas=16, steps=400, seed=1)
    assert r.objective == pytest.approx(opt)
    assert r.train_errors == topo.training_loss(r.weights, X, y)


def test_finds_optimum_with_linear_penalty():
    topo, X, y = tiny_problem(seed=5)
    h = 0.1 * np.arange(topo.n_weights) / topo.n_weights
    prob = BNNProblem(topo, X, y, objective_fn=lambda W: topo.training_loss(np.atleast_2d(W), X, y) + np.atleast_2d(W) @ h)
    opt = prob.objective(all_weights(topo.n_weights)).min()
    r = solve_bnn(prob, "pt", replicas=16, steps=600, seed=0)
    assert r.objective == pytest.approx(opt)


def test_same_seed_same_result():
    topo, X, y = tiny_problem(seed=7, S=16)
    prob = BNNProblem(topo, X, y)
    for strat in ("pt", "anneal-moves"):
        a = solve_bnn(prob, strat, replicas=8, steps=200, seed=11)
        b = solve_bnn(prob, strat, replicas=8, steps=200, seed=11)
        np.testing.assert_array_equal(a.weights, b.weights)
        assert a.objective == b.objective
        assert [t[::2] for t in a.trace] == [t[::2] for t in b.trace]  # (step, best F); seconds differ


def test_pt_trace_monotone_and_time_limit():
    topo, X, y = tiny_problem(seed=2, S=20)
    s = MoveState(topo, X, y, np.ones((8, topo.n_weights), dtype=np.int8))
    res = parallel_tempering(s, steps=10_000_000, seed=0, time_limit=0.3)
    assert res.wall_time < 3.0
    fs = [t[2] for t in res.trace]
    assert all(b <= a for a, b in zip(fs, fs[1:]))
    assert res.objective == topo.training_loss(res.weights, X, y)


def test_unknown_strategy():
    topo, X, y = tiny_problem()
    with pytest.raises(ValueError):
        solve_bnn(BNNProblem(topo, X, y), "nope")


# ---------------------------------------------------------------- with the compiler
def _compiler():
    try:
        return importlib.import_module("qbnn.compiler")
    except Exception:
        return None


@pytest.mark.skipif(_compiler() is None, reason="qbnn.compiler not available")
@pytest.mark.parametrize("strategy,margin,pen", [("pt", 0.0, False), ("anneal-moves", 0.0, False),
                                                 ("portfolio", 0.0, False), ("pt", 0.5, True),
                                                 ("greedy-moves", 1.0, False), ("decode-reanneal", 0.0, False),
                                                 ("ste-pt", 0.0, False), ("ste-pt", 0.5, True)])
def test_compiled_states_feasible_and_energy_fresh(strategy, margin, pen):
    comp = _compiler()
    topo, X, y = tiny_problem(seed=4, S=6)
    h = 0.05 * np.cos(np.arange(topo.n_weights)) if pen else None
    c = comp.compile_bnn(topo, X, y, margin=margin, weight_penalties=h)
    for a, v in (("topology", topo), ("X", X), ("y", y)):
        if not hasattr(c, a):
            setattr(c, a, v)
    r = solve_bnn(c, strategy, replicas=8, steps=300, seed=0, time_limit=5.0)
    assert r.state is not None
    assert r.violations == 0
    assert r.energy == pytest.approx(float(c.qubo.energy(r.state)))
    assert r.energy == pytest.approx(r.objective)
    opt = np.asarray(c.objective(all_weights(topo.n_weights))).min()
    assert r.objective == pytest.approx(opt)


@pytest.mark.skipif(_compiler() is None, reason="qbnn.compiler not available")
def test_compiled_margin_uses_incremental_path_and_matches_objective():
    from qbnn.bnn_solving.portfolio import make_state

    comp = _compiler()
    rng = np.random.default_rng(0)
    topo = random_topology(rng, 3, 4)
    X = rng.choice(np.array([-1, 1], dtype=np.int8), size=(5, 3))
    y = rng.choice(np.array([-1, 1], dtype=np.int8), size=5)
    c = comp.compile_bnn(topo, X, y, margin=0.7, weight_penalties=rng.normal(size=topo.n_weights) * 0.1)
    W = rng.choice(np.array([-1, 1], dtype=np.int8), size=(3, topo.n_weights))
    s = make_state(c, W)
    assert not s.exact_fallback and s.margin == 0.7
    D = s.all_flip_deltas().numpy()
    for r in range(3):
        flips = np.repeat(W[r][None], topo.n_weights, axis=0)
        flips[np.arange(topo.n_weights), np.arange(topo.n_weights)] *= -1
        np.testing.assert_allclose(D[r], c.objective(flips) - c.objective(W[r]), atol=1e-9)
        # a cluster move = repair(w) -> repair(w'): QUBO energy changes by exactly the delta
        np.testing.assert_allclose(c.qubo.energy(c.repair(flips)) - c.qubo.energy(c.repair(W[r])), D[r], atol=1e-6)


@pytest.mark.skipif(_compiler() is None, reason="qbnn.compiler not available")
def test_solve_bnn_qubo_file_roundtrip(tmp_path):
    from qbnn.bnn_solving import solve_bnn_qubo_file

    comp = _compiler()
    topo, X, y = tiny_problem(seed=4, S=6)
    c = comp.compile_bnn(topo, X, y)
    path = tmp_path / "q.h5"
    comp.save_compiled(c, path)
    res = solve_bnn_qubo_file(str(path), "pt", replicas=8, steps=200, seed=0, device="auto")
    assert res.best_energy == pytest.approx(float(c.qubo.energy(res.best_bits)))
    assert int(np.sum(c.violations(res.best_bits))) == 0
    assert res.best_energy == pytest.approx(float(np.min(c.objective(all_weights(topo.n_weights)))))


@pytest.mark.parametrize("strategy", ["pt", "anneal-moves", "ste-pt", "greedy-moves"])
def test_target_stopping_rule(strategy):
    """With the exhaustive optimum as target, a strategy stops at it long before its time limit."""
    topo, X, y = tiny_problem(seed=3, S=12)
    prob = BNNProblem(topo, X, y)
    opt = prob.objective(all_weights(topo.n_weights)).min()
    r = solve_bnn(prob, strategy, replicas=8, steps=10**8, time_limit=30.0, seed=0, target=float(opt))
    assert r.objective == pytest.approx(opt)
    assert r.wall_time < 15.0


def test_multi_candidate_metropolis_keeps_state_exact():
    from qbnn.bnn_solving.tempering import anneal_moves

    topo, X, y = tiny_problem(seed=6, S=15)
    s = MoveState(topo, X, y, np.ones((6, topo.n_weights), dtype=np.int8))
    res = anneal_moves(s, steps=300, seed=2, candidates=4, polish=False)
    Z, A = topo.forward(s.weights(), X)
    np.testing.assert_array_equal(s.Z.numpy().astype(np.int32), Z)
    np.testing.assert_array_equal(s.A.numpy().astype(np.int32), A)
    np.testing.assert_allclose(s.F.numpy(), topo.training_loss(s.weights(), X, y))
    assert res.objective == topo.training_loss(res.weights, X, y)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), margin=st.sampled_from([0.0, 0.5]), affine=st.booleans())
def test_pair_move_delta_equals_full_recomputation(seed, margin, affine):
    """Pair moves (two edges into one neuron): exact deltas, and accepting keeps Z, A, F consistent."""
    rng = np.random.default_rng(seed)
    topo = random_topology(rng, 4, 4)
    S, R = 7, 3
    X = rng.choice(np.array([-1, 1], dtype=np.int8), size=(S, 4))
    y = rng.choice(np.array([-1, 1], dtype=np.int8), size=S)
    W = rng.choice(np.array([-1, 1], dtype=np.int8), size=(R, topo.n_weights))
    h = rng.normal(size=topo.n_weights) if affine else np.zeros(topo.n_weights)
    fan = np.array([topo.fan_in(k) for k in range(topo.n_neurons)], dtype=np.float64)

    def F(W):
        W = np.atleast_2d(W)
        Z, _ = topo.forward(W, X)
        return topo.training_loss(W, X, y) + W @ h - margin * (np.abs(Z) / fan).sum(axis=(1, 2))

    s = MoveState(topo, X, y, W, residual=AffineResidual(0.0, h), margin=margin)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, topo.n_weights, (R, 5), generator=g)
    idx2 = s.pair_partner(idx, g)
    idx2[:, 0] = -1  # a single move mixed in
    delta = s.propagate(idx, idx2)[0].numpy()
    nb = s.neuron_of.numpy()
    for r in range(R):
        for c in range(5):
            e, e2 = int(idx[r, c]), int(idx2[r, c])
            w = W[r].copy()
            w[e] *= -1
            if e2 >= 0 and e2 != e:
                assert nb[e2] == nb[e]
                w[e2] *= -1
            np.testing.assert_allclose(delta[r, c], F(w) - F(W[r]), atol=1e-9)
    d_, Z, A = s.propagate(idx, idx2)
    s.accept(idx, d_, Z, A, torch.ones(R, dtype=torch.bool), torch.full((R,), 2), idx2)
    Zf, Af = topo.forward(s.weights(), X)
    np.testing.assert_array_equal(s.Z.numpy().astype(np.int32), Zf)
    np.testing.assert_array_equal(s.A.numpy().astype(np.int32), Af)
    np.testing.assert_allclose(s.F.numpy(), F(s.weights()), atol=1e-9)
