"""qbnn.training: exact block / batch QUBOs, strategies' reported losses, determinism, memory guard, CLI."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qbnn.cli import main
from qbnn.compiler import compile_bnn
from qbnn.errors import QbnnError
from qbnn.topology import Network, Topology
from qbnn.training import STRATEGIES, TrainingProblem, train
from qbnn.training.block_qubo import block_qubo_size, build_block_qubo
from qbnn.training.blocks import NeuronBlock
from qbnn.training.objective import NetState


def _task(seed: int, S: int = 24, d: int = 6, classes: int = 3):
    rng = np.random.default_rng(seed)
    X = rng.choice(np.array([-1, 1], np.int8), size=(S, d))
    if classes == 1:
        y = np.where(X[:, 0] * X[:, 1] + X[:, 2] >= 0, 1, -1).astype(np.int8)
    else:
        y = ((X[:, :3] > 0).sum(axis=1) % classes).astype(np.int64)
    return X, y


TOPOS = {"multi": ([6, 3, 3], 3), "binary": ([6, 3, 1], 1)}


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("kind", sorted(TOPOS))
def test_strategy_reports_fresh_loss_and_is_deterministic(strategy, kind):
    layers, classes = TOPOS[kind]
    X, y = _task(1, classes=classes)
    topo = Topology.layered(layers)
    runs = [train(topo, X, y, strategy=strategy, steps=30, seed=5, block_size=4) for _ in range(2)]
    r = runs[0]
    assert r.weights.shape == (topo.n_weights,) and np.isin(r.weights, (-1, 1)).all()
    assert r.training_loss == topo.training_loss(r.weights, X, y) == r.train_errors
    assert r.training_loss <= r.warm_start_loss
    np.testing.assert_array_equal(runs[0].weights, runs[1].weights)  # same seed + step budget
    summary = r.summary(topo)
    assert summary["loss"].startswith("hamming" if classes > 1 else "errors")
    assert summary["prediction"].startswith("argmax" if classes > 1 else "sign")


def test_lns_beats_its_random_start_and_moves_both_layers():
    X, y = _task(2, S=40)
    topo = Topology.layered([6, 3, 3])
    r = train(topo, X, y, strategy="lns", steps=60, seed=0, block_size=6)
    w0 = np.random.default_rng(0).choice(np.array([-1, 1], np.int8), size=topo.n_weights)  # warm start "none"
    assert r.training_loss < topo.training_loss(w0, X, y)
    changed = r.weights != w0
    hidden = slice(0, int(topo.weight_offsets[3]))
    assert changed[hidden].any() and changed[hidden.stop:].any()


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 4), st.integers(1, 4))
def test_neuron_block_is_the_exact_block_minimum(seed, j, k):
    """The exhaustive block solve returns the best of all 2^k block assignments (brute force with the
    full objective) and reports that assignment's exact objective."""
    rng = np.random.default_rng(seed)
    X, y = _task(seed, S=15, d=5, classes=2)
    topo = Topology.layered([5, 3, 2])
    h = rng.normal(0, 0.3, topo.n_weights)
    p = TrainingProblem(topo, X, y, h)
    w = rng.choice(np.array([-1, 1], np.int8), size=topo.n_weights)
    state = NetState(p, w)
    j = j % topo.n_neurons
    sl = topo.weight_slice(j)
    pos = np.sort(rng.choice(topo.fan_in(j), size=min(k, topo.fan_in(j)), replace=False))
    blk = NeuronBlock(state, j)
    assert blk.objective() == pytest.approx(p.objective(w), abs=1e-9)
    F = blk.solve_exhaustive(pos, rng)
    w_new = w.copy()
    w_new[sl] = blk.w
    assert F == pytest.approx(p.objective(w_new), abs=1e-9)
    brute = []
    for bits in itertools.product((-1, 1), repeat=len(pos)):
        wb = w.copy()
        wb[sl.start + pos] = bits
        brute.append(p.objective(wb))
    assert F == pytest.approx(min(brute), abs=1e-9)
    assert np.array_equal(np.delete(w_new, sl.start + pos), np.delete(w, sl.start + pos))


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_block_qubo_energy_of_repaired_state_equals_batch_objective(seed):
    rng = np.random.default_rng(seed)
    X, y = _task(seed, S=20, d=5, classes=2)
    topo = Topology.layered([5, 3, 2])
    p = TrainingProblem(topo, X, y, rng.normal(0, 0.5, topo.n_weights))
    w = rng.choice(np.array([-1, 1], np.int8), size=topo.n_weights)
    j = int(rng.integers(topo.n_neurons))
    sl = topo.weight_slice(j)
    block = np.arange(sl.start, sl.stop)[rng.random(topo.fan_in(j)) < 0.6]
    if len(block) == 0:
        block = np.array([sl.start])
    batch = np.sort(rng.choice(len(y), size=7, replace=False))
    bq = build_block_qubo(p, w, block, batch)
    sub = p.subset(batch)
    assert bq.qubo.num_variables == block_qubo_size(topo, block, len(batch))
    for _ in range(4):  # any block assignment: repaired-state energy = batch objective
        wb = w.copy()
        wb[block] = rng.choice(np.array([-1, 1], np.int8), size=len(block))
        assert bq.qubo.energy(bq.state(wb)) == pytest.approx(sub.objective(wb), abs=1e-9)
        assert np.array_equal(bq.block_weights(bq.state(wb)), wb[block])


@pytest.mark.parametrize("neuron", [0, 2])  # a hidden neuron's block, an output neuron's block
@pytest.mark.parametrize("seed", [3, 4])
def test_block_qubo_minimum_over_free_bits_is_the_batch_objective(neuron, seed):
    """Brute force over every free bit of a tiny block QUBO: the minimum for each block assignment
    is the batch objective (the block QUBO is exact, not just consistent at repaired states)."""
    X, y = _task(seed, S=6, d=3, classes=1)
    topo = Topology.layered([3, 2, 1])
    p = TrainingProblem(topo, X, y)
    w = np.random.default_rng(seed).choice(np.array([-1, 1], np.int8), size=topo.n_weights)
    block = np.arange(*topo.weight_slice(neuron).indices(topo.n_weights))[:2]
    bq = build_block_qubo(p, w, block, np.array([0, 1]))
    n = bq.qubo.num_variables
    assert n <= 18
    states = np.array(list(itertools.product((0, 1), repeat=n)), dtype=np.int8)
    E = bq.qubo.energy(states)
    wb = bq.block_weights(states)
    sub = p.subset(np.array([0, 1]))
    for bits in itertools.product((-1, 1), repeat=len(block)):
        m = (wb == np.array(bits)).all(axis=1)
        wfull = w.copy()
        wfull[block] = bits
        assert E[m].min() == pytest.approx(sub.objective(wfull), abs=1e-9)


def test_consensus_batch_qubo_is_exact_for_its_batch():
    """The consensus round's batch problem (batch loss + h − ρ·w̄ penalties) is the compiled batch QUBO."""
    X, y = _task(4, S=30)
    topo = Topology.layered([6, 3, 3])
    rng = np.random.default_rng(4)
    w_bar = rng.choice(np.array([-1, 1], np.int8), size=topo.n_weights)
    h = -0.3 * w_bar.astype(float)
    batch = np.sort(rng.choice(30, size=10, replace=False))
    sub = TrainingProblem(topo, X, y).subset(batch, h)
    cb = compile_bnn(topo, X[batch], y[batch], weight_penalties=h)
    for _ in range(5):
        w = rng.choice(np.array([-1, 1], np.int8), size=topo.n_weights)
        x = cb.repair(w)
        assert cb.violations(x) == 0
        assert cb.energy(x) == pytest.approx(sub.objective(w), abs=1e-9)


def test_memory_guard_refuses_with_one_line(monkeypatch):
    X, y = _task(0)
    topo = Topology.layered([6, 3, 3])
    monkeypatch.setenv("QBNN_MEMORY_LIMIT_MB", "0.01")
    with pytest.raises(QbnnError) as exc:
        train(topo, X, y, strategy="lns", steps=5)
    msg = str(exc.value)
    assert "\n" not in msg and "MiB" in msg and "training" in msg


def _dataset(tmp_path, classes=3):
    from qbnn.data.store import write_dataset

    X, y = _task(7, S=40, classes=classes)
    path = tmp_path / "data.h5"
    write_dataset(path, X[:30], y[:30], X[30:], y[30:], {"source": "test", "classes": json.dumps(list(range(classes)) if classes > 1 else [-1, 1])})
    net = tmp_path / "net.yaml"
    net.write_text(f"layers: [6, 3, {classes}]\n")
    return path, net


def test_cli_train_writes_network_and_json(tmp_path, capsys):
    data, net = _dataset(tmp_path)
    out = tmp_path / "net.h5"
    rc = main(["train", "--data", str(data), "--network", str(net), "--steps", "20", "--seed", "1",
               "--out", str(out), "--block-size", "4"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("train_accuracy", "test_accuracy", "training_loss", "seconds", "peak_memory_mb", "strategy",
                "loss", "prediction", "block_solves"):
        assert key in summary
    trained = Network.load(out)
    from qbnn.data import load_dataset

    Xtr, ytr, Xte, yte, _ = load_dataset(data)
    assert summary["training_loss"] == trained.topology.training_loss(trained.weights, Xtr, ytr)
    assert summary["test_accuracy"] == pytest.approx(trained.accuracy(Xte, yte))
    assert main(["evaluate", str(out), "--data", str(data)]) == 0


def test_cli_train_memory_refusal_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    data, net = _dataset(tmp_path)
    out = tmp_path / "net.h5"
    monkeypatch.setenv("QBNN_MEMORY_LIMIT_MB", "0.01")
    rc = main(["train", "--data", str(data), "--network", str(net), "--steps", "5", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("qbnn: error: ") and "MiB" in err[0]
    assert not out.exists()


def test_cli_train_needs_a_budget(tmp_path, capsys):
    data, net = _dataset(tmp_path)
    rc = main(["train", "--data", str(data), "--network", str(net), "--out", str(tmp_path / "n.h5")])
    assert rc == 2 and "--time-limit" in capsys.readouterr().err


def test_estimator_fit_uses_training_strategies():
    from qbnn.estimator import QuboBNNClassifier

    X, y = _task(8, S=40)
    clf = QuboBNNClassifier(topology={"layers": [6, 3, 3]}, solver="train", time_limit=0.3, random_state=0,
                            strategy="lns").fit(X, y)
    assert clf.train_errors_ == clf.topology_.training_loss(clf.weights_, X, y)
    w0 = np.random.default_rng(0).choice(np.array([-1, 1], np.int8), size=clf.topology_.n_weights)
    assert clf.train_errors_ < clf.topology_.training_loss(w0, X, y)
    assert clf.predict(X).shape == (40,)
    with pytest.raises(ValueError, match="margin"):
        QuboBNNClassifier(solver="train", margin=0.5).fit(X, y)


@pytest.mark.parametrize("strategy", ["lns", "consensus"])
def test_search_stops_at_zero_loss(strategy):
    X, _ = _task(9, S=30, classes=1)
    y = np.where(X.sum(axis=1) + 1 >= 0, 1, -1).astype(np.int8)  # a majority vote: zero loss is reachable
    topo = Topology.layered([6, 2, 1])
    r = train(topo, X, y, strategy=strategy, steps=5000, seed=0, block_size=8, margin_phase=False)
    assert r.training_loss == 0 and r.info["block_solves"] < 5000
    if strategy == "lns":  # the margin phase spends the rest of the budget on larger kappa, loss kept at 0
        m = train(topo, X, y, strategy=strategy, steps=5000, seed=0, block_size=8, kappa="rule")
        assert m.training_loss == 0 and m.info["block_solves"] == 5000 and m.info["margin_levels"] >= 1


def test_cli_train_rejects_a_negative_kappa(tmp_path, capsys):
    data, net = _dataset(tmp_path)
    out = tmp_path / "n.h5"
    rc = main(["train", "--data", str(data), "--network", str(net), "--steps", "5", "--out", str(out),
               "--kappa", "-1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("qbnn: error: ") and "--kappa" in err[0]
    assert not out.exists()
    rc = main(["train", "--data", str(data), "--network", str(net), "--steps", "5", "--out", str(out),
               "--kappa", "2", "--surrogate", "hinge"])
    assert rc == 0 and json.loads(capsys.readouterr().out.strip().splitlines()[-1])["kappa"] == 2.0
