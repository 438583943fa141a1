"""The LNS margin phase (qbnn.training.lns) and the surrogate floor (TrainingProblem.search_floor):
the floor is a true lower bound (brute force), the phase never returns a higher documented loss than the
network that first reached the floor, leaves runs that never reach it unchanged, is deterministic for
a step budget, and the reported loss is a fresh forward pass."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qbnn.topology import Topology
from qbnn.training import TrainingProblem, train
from qbnn.training.lns import lns
from qbnn.training.objective import NetState, Surrogate
from qbnn.training.train import search_surrogate


def _task(seed: int, S: int, d: int, classes: int, repeats: int = 0):
    """Random ±1 inputs; ``repeats`` of them duplicated with a random (possibly other) label."""
    rng = np.random.default_rng(seed)
    X = rng.choice(np.array([-1, 1], np.int8), size=(S, d))
    if classes == 1:
        y = np.where(X[:, 0] + X[:, 1] + X[:, 2] >= 0, 1, -1).astype(np.int8)
    else:
        y = ((X[:, :3] > 0).sum(axis=1) % classes).astype(np.int64)
    if repeats:
        idx = rng.integers(S, size=repeats)
        X = np.vstack([X, X[idx]])
        y = np.concatenate([y, rng.permutation(y)[:repeats]])
    return X, y


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([1, 2]), st.integers(0, 6),
       st.sampled_from([Surrogate(), Surrogate(0.0, 1.0, 1.0), Surrogate(0.0, 1.0, 2.0), Surrogate(1.0, 1.0, 1.0)]))
def test_search_floor_is_a_lower_bound_of_every_network(seed, classes, repeats, sg):
    """Brute force over all 2^9 / 2^11 weight vectors of a tiny network: no network beats the floor, and
    the floor is 0 (plus −Σ|h|) when no input repeats with another target."""
    X, y = _task(seed, S=8, d=3, classes=classes, repeats=repeats)
    topo = Topology.layered([3, 2, classes])
    h = np.random.default_rng(seed).normal(0, 0.2, topo.n_weights) * (seed % 2)
    p = TrainingProblem(topo, X, y, h, surrogate=sg)
    W = np.array(list(itertools.product((-1, 1), repeat=topo.n_weights)), dtype=np.int8)
    Z, _ = topo.forward(W, X)  # (R, S, N): every network at once
    best = (sg.cost(Z[..., list(topo.outputs)], p.T[None]).sum(axis=(1, 2)) + W @ h).min()
    floor = p.search_floor()
    assert floor <= best + 1e-9
    keys = {}
    for x, t in zip(map(bytes, X), map(tuple, p.T)):
        keys.setdefault(x, set()).add(t)
    if all(len(v) == 1 for v in keys.values()):
        assert floor == pytest.approx(-np.abs(h).sum())
    else:
        assert floor > -np.abs(h).sum() - 1e-9


def test_search_floor_of_one_conflicting_pair():
    """One input seen with both labels, one output of fan-in 3 (odd z): the hinge κ = 2 costs at least
    min over z ∈ {±1, ±3} of max(0, 2 − z) + max(0, 2 + z) = 4; the documented loss at least 1."""
    topo = Topology.layered([2, 1])
    X = np.array([[1, 1], [1, 1], [-1, 1]], np.int8)
    y = np.array([1, -1, 1], np.int8)
    assert TrainingProblem(topo, X, y).search_floor() == 1.0
    assert TrainingProblem(topo, X, y, surrogate=Surrogate(0.0, 1.0, 2.0)).search_floor() == 4.0


def _first_floor_run(topo, X, y, seed, steps):
    p = TrainingProblem(topo, X, y).with_surrogate(search_surrogate(topo, "hinge", 1.0))
    w0 = np.random.default_rng(seed).choice(np.array([-1, 1], np.int8), size=topo.n_weights)
    return p, w0, lns(p, w0, steps=steps, seed=seed, block_size=4, margin_phase=False)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([1, 3]), st.integers(0, 3))
def test_margin_phase_never_returns_a_higher_documented_loss(seed, classes, repeats):
    """Same seed and step budget: the run with the margin phase follows the plain run until the floor,
    then returns a network whose documented objective is ≤ the plain run's; without a floor reached
    the two runs are identical."""
    X, y = _task(seed, S=20, d=5, classes=classes, repeats=repeats)
    topo = Topology.layered([5, 3, classes])
    steps = 400
    p, w0, plain = _first_floor_run(topo, X, y, seed, steps)
    grown = lns(p, w0, steps=steps, seed=seed, block_size=4)
    doc = TrainingProblem(topo, X, y)
    if plain.steps < steps:  # the plain run stopped at the floor: the margin phase started
        assert grown.kappa is not None and grown.kappa > 1.0 and grown.margin_levels >= 1
        assert grown.steps == steps
        assert doc.objective(grown.weights) <= doc.objective(plain.weights)
        # the kept network's reported search value is its hinge at the final κ (fresh pass)
        final = doc.with_surrogate(Surrogate(0.0, 1.0, grown.kappa))
        assert grown.objective == pytest.approx(final.search_objective(grown.weights))
    else:
        assert grown.kappa is None and grown.margin_levels == 0
        np.testing.assert_array_equal(grown.weights, plain.weights)


def test_margin_phase_raises_the_margin_and_keeps_zero_loss():
    """A separable task with redundant inputs: the phase raises κ at least three times, keeps zero loss, and the
    returned network's hinge at the final κ is at most that of the network that completed κ − 1 (all
    margins ≥ κ − 1, so at most 1 per sample)."""
    rng = np.random.default_rng(4)
    base = rng.choice(np.array([-1, 1], np.int8), size=(40, 3))
    X = np.hstack([base] * 4)  # each vote 4 times: t·z = 4|s| ± 1 ≥ 3 for the all-ones weights (s odd)
    y = np.where(base.sum(axis=1) >= 0, 1, -1).astype(np.int8)
    topo = Topology.layered([12, 1])
    p = TrainingProblem(topo, X, y).with_surrogate(search_surrogate(topo, "hinge", 1.0))
    r = lns(p, -np.ones(topo.n_weights, np.int8), steps=300, seed=0, block_size=8)
    assert r.margin_levels >= 3 and r.kappa == 1.0 + r.margin_levels
    assert topo.training_loss(r.weights, X, y) == 0
    assert NetState(p, r.weights).documented_objective() == 0
    final = p.with_surrogate(Surrogate(0.0, 1.0, r.kappa))
    assert final.search_objective(r.weights) == r.objective <= len(y)


@pytest.mark.parametrize("classes", [1, 3])
def test_train_with_margin_phase_reports_fresh_loss_and_is_deterministic(classes):
    X, y = _task(7, S=30, d=5, classes=classes)
    topo = Topology.layered([5, 3, classes])
    runs = [train(topo, X, y, strategy="lns", steps=600, seed=3, block_size=4) for _ in range(2)]
    r = runs[0]
    np.testing.assert_array_equal(runs[0].weights, runs[1].weights)
    assert r.training_loss == topo.training_loss(r.weights, X, y) == r.train_errors
    assert r.training_loss <= r.warm_start_loss
    assert r.info["margin_phase"] is True and r.info["margin_levels"] == runs[1].info["margin_levels"]
    off = train(topo, X, y, strategy="lns", steps=600, seed=3, block_size=4, margin_phase=False)
    assert off.info["margin_levels"] == 0 and off.info["final_kappa"] is None
    if r.info["margin_levels"]:
        assert r.training_loss <= off.training_loss


def test_cli_no_margin_phase_flag(tmp_path, capsys):
    """Default: the margin phase runs after the floor (κ raised, loss kept at 0); --no-margin-phase stops there."""
    import json

    from qbnn.cli import main
    from qbnn.data.store import write_dataset

    base = np.random.default_rng(2).choice(np.array([-1, 1], np.int8), size=(30, 3))
    X = np.hstack([base] * 4)  # every vote 4 times: separable with output margin 3 = the default κ
    y = np.where(base.sum(axis=1) >= 0, 1, -1).astype(np.int8)
    data = tmp_path / "d.h5"
    write_dataset(data, X[:24], y[:24], X[24:], y[24:], {"source": "test", "classes": json.dumps([-1, 1])})
    net = tmp_path / "n.yaml"
    net.write_text("layers: [12, 1]\n")
    outs = {}
    for flag in ([], ["--no-margin-phase"]):
        rc = main(["train", "--data", str(data), "--network", str(net), "--steps", "400", "--seed", "1",
                   "--out", str(tmp_path / "o.h5"), "--block-size", "4", "--kappa", "rule", *flag])
        outs[bool(flag)] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert rc == 0 and outs[bool(flag)]["training_loss"] == outs[bool(flag)]["train_loss_errors"] == 0
    assert outs[False]["margin_phase"] is True and outs[False]["margin_levels"] >= 1
    assert outs[False]["final_kappa"] == outs[False]["kappa"] + outs[False]["margin_levels"]
    assert outs[True]["margin_phase"] is False and outs[True]["margin_levels"] == 0
    assert outs[True]["block_solves"] < outs[False]["block_solves"] == 400
