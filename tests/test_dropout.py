"""Dropout-inspired penalties: subnetwork sampling, penalty rule, QUBO effect, CLI."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from qbnn.dropout import (Penalties, apply_penalties_to_qubo, dropout_round, make_solve_fn,
                          penalised_objective, penalties_from_solutions, penalty_qubo_terms,
                          run_dropout, sample_subnetwork)
from qbnn.errors import QbnnError
from qbnn.topology import Topology


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.choice(np.array([-1, 1], dtype=np.int8), size=(24, 5))
    y = np.where(X[:, 0] + X[:, 1] + X[:, 2] >= 0, 1, -1).astype(np.int8)
    return X, y


def _dag():
    spec = {"inputs": 3, "neurons": {"a": {"from": ["x0", "x1"], "bias": True},
                                     "b": {"from": ["a", "x2"]},
                                     "c": {"from": ["a"], "bias": True},
                                     "out": {"from": ["b", "c"], "bias": True}},
            "outputs": ["out"]}
    return Topology.from_spec(spec)


@pytest.mark.parametrize("unit", ["neuron", "edge"])
def test_p0_subnetwork_is_full_network(unit):
    for topo in (Topology.layered([5, 3, 2, 1]), _dag(), Topology.layered([4, 3, 3])):
        sub, m = sample_subnetwork(topo, 0.0, unit, np.random.default_rng(1))
        assert sub.to_spec() == topo.to_spec()
        np.testing.assert_array_equal(m, np.arange(topo.n_weights))


@pytest.mark.parametrize("unit", ["neuron", "edge"])
@pytest.mark.parametrize("p", [0.3, 0.6, 1.0])
def test_subnetwork_valid_and_map_consistent(unit, p):
    topo = Topology.layered([5, 4, 3, 2])
    full_labels = topo.weight_labels()
    for seed in range(15):
        sub, m = sample_subnetwork(topo, p, unit, seed)
        assert sub.n_inputs == topo.n_inputs
        assert [sub.names[o] for o in sub.outputs] == [topo.names[o] for o in topo.outputs]
        assert len(set(m.tolist())) == len(m) and m.max() < topo.n_weights
        assert sub.weight_labels() == [full_labels[i] for i in m]
        assert all(len(s) > 0 for s in sub.sources)
        # every hidden neuron still feeds something
        read = {int(s) for src in sub.sources for s in src}
        for k in range(sub.n_neurons):
            assert k in sub.outputs or sub.n_inputs + k in read


def test_p1_neuron_dropout_keeps_a_path_to_outputs():
    sub, m = sample_subnetwork(_dag(), 1.0, "neuron", 0)
    # out's first source b is restored, then b's live source x2 suffices
    assert set(sub.names) == {"b", "out"}
    X = np.array([[1, -1, 1], [-1, -1, -1]])
    sub.forward(np.ones(sub.n_weights, dtype=np.int8), X)


def test_subnetwork_weights_agree_with_full_network_when_dropped_weights_are_neutral():
    """A neuron-dropped subnetwork is the full network restricted to its weights."""
    topo = Topology.layered([4, 3, 1], bias=False)
    sub, m = sample_subnetwork(topo, 0.5, "neuron", 3)
    assert sub.n_weights < topo.n_weights


def test_penalty_rule():
    n = 5
    sols = [np.array([1, 1, -1]), np.array([1, -1])]
    maps = [np.array([0, 1, 3]), np.array([0, 3])]
    h, mean, count = penalties_from_solutions(n, sols, maps, beta=2.0)
    np.testing.assert_array_equal(count, [2, 1, 0, 2, 0])
    np.testing.assert_allclose(mean, [1, 1, 0, -1, 0])
    np.testing.assert_allclose(h, [-2, -2, 0, 2, 0])
    assert not np.signbit(h[[2, 4]]).any()


def test_penalty_qubo_terms_match_pm1_objective():
    """Σ h·w with w = 2b-1 equals offset_delta + linear_delta·b for every bit vector."""
    rng = np.random.default_rng(0)
    h = rng.normal(size=6)
    dl, doff = penalty_qubo_terms(h)
    for _ in range(10):
        b = rng.integers(0, 2, size=6)
        assert np.isclose(h @ (2 * b - 1), doff + dl @ b)


def test_apply_penalties_to_qubo():
    from qbnn.qubo import QUBO, VAR_KINDS

    n = 7
    vm = {f: np.full(n, -1, dtype=np.int32) for f in ("kind", "sample", "neuron", "edge", "bit")}
    vm["kind"][:] = VAR_KINDS.index("aux")
    wv = np.array([1, 2, 4, 6])
    vm["kind"][wv] = VAR_KINDS.index("weight")
    q = QUBO.from_coo(n, np.arange(n, dtype=float), [0, 1, 2], [3, 4, 5], [1.0, -2.0, 0.5], offset=3.0, varmap=vm)
    h = np.array([0.5, -1.0, 0.25, 2.0])
    q2 = apply_penalties_to_qubo(q, h)
    diff = q2.linear - q.linear
    np.testing.assert_allclose(diff[wv], 2 * h)
    np.testing.assert_allclose(np.delete(diff, wv), 0)
    assert np.isclose(q2.offset - q.offset, -h.sum())
    x = np.random.default_rng(1).integers(0, 2, size=n)
    assert np.isclose(q2.energy(x) - q.energy(x), h @ (2 * x[wv] - 1))


def _compile():
    try:
        from qbnn.compiler import compile_bnn
    except Exception:
        pytest.skip("qbnn.compiler not available")
    return compile_bnn


def test_compiled_qubo_linear_terms_shift_by_2h(data):
    compile_bnn = _compile()
    X, y = data
    X, y = X[:6, :3], y[:6]
    topo = Topology.layered([3, 2, 1])
    h = np.random.default_rng(2).normal(size=topo.n_weights)
    c0 = compile_bnn(topo, X, y, margin=0.0)
    c1 = compile_bnn(topo, X, y, margin=0.0, weight_penalties=h)
    q0, q1 = c0.qubo, c1.qubo
    wv = q0.indices("weight")
    assert len(wv) == topo.n_weights
    diff = q1.linear - q0.linear
    np.testing.assert_allclose(diff[wv], 2 * h, atol=1e-9)
    np.testing.assert_allclose(np.delete(diff, wv), 0, atol=1e-9)
    assert np.isclose(q1.offset - q0.offset, -h.sum())
    np.testing.assert_array_equal(q1.rows, q0.rows)
    np.testing.assert_allclose(q1.values, q0.values)
    W = np.random.default_rng(3).choice([-1, 1], size=(4, topo.n_weights))
    np.testing.assert_allclose(np.asarray(c1.objective(W)) - np.asarray(c0.objective(W)), W @ h, atol=1e-9)


def test_p0_round_reduces_to_plain_training(data):
    """With p=0 every subnetwork is the full network: each sub solution is a plain full solve."""
    X, y = data
    topo = Topology.layered([5, 2, 1])
    calls = []

    def solve(t, X_, y_, *, penalties=None, margin=0.0, seed=0):
        calls.append((t, penalties))
        return make_solve_fn("greedy")(t, X_, y_, penalties=penalties, margin=margin, seed=seed)

    rd = dropout_round(topo, X, y, None, K=3, p=0.0, beta=1.5, unit="neuron", seed=4, solve_fn=solve)
    assert all(t.to_spec() == topo.to_spec() and pen is None for t, pen in calls)
    assert all((m == np.arange(topo.n_weights)).all() for m in rd.sub_maps)
    np.testing.assert_array_equal(rd.count, 3)
    np.testing.assert_allclose(rd.penalties, -1.5 * np.mean(rd.sub_solutions, axis=0))
    # K=1: penalties are exactly -beta times a plain-training solution of the full network
    rd1 = dropout_round(topo, X, y, None, K=1, p=0.0, beta=1.0, seed=4, solve_fn=make_solve_fn("greedy"))
    w = rd1.sub_solutions[0]
    np.testing.assert_allclose(rd1.penalties, -w)
    assert topo.training_loss(w, X, y) == rd1.sub_errors[0]


def test_run_dropout_rounds_and_previous_penalties(data):
    X, y = data
    topo = Topology.layered([5, 3, 1])
    seen = []

    def solve(t, X_, y_, *, penalties=None, margin=0.0, seed=0):
        seen.append(penalties)
        return make_solve_fn("greedy")(t, X_, y_, penalties=penalties, margin=margin, seed=seed)

    rounds = run_dropout(topo, X, y, R=2, K=2, p=0.5, beta=1.0, unit="edge", seed=0, solve_fn=solve)
    assert [r.round for r in rounds] == [0, 1]
    assert seen[0] is None and seen[1] is None and seen[2] is not None
    for r in rounds:
        assert r.penalties.shape == (topo.n_weights,)
        assert np.all(np.abs(r.penalties) <= 1.0)
        np.testing.assert_array_equal(r.penalties[r.count == 0], 0.0)
    again = run_dropout(topo, X, y, R=2, K=2, p=0.5, beta=1.0, unit="edge", seed=0, solve_fn=make_solve_fn("greedy"))
    np.testing.assert_allclose(again[-1].penalties, rounds[-1].penalties)


def test_penalised_objective_prefers_agreement(data):
    X, y = data
    topo = Topology.layered([5, 1])
    h = np.zeros(topo.n_weights)
    h[0] = -1.0  # subnetworks agreed on w0 = +1
    F = penalised_objective(topo, X, y, h)
    w = np.ones(topo.n_weights, dtype=np.int8)
    w2 = w.copy()
    w2[0] = -1
    assert F(w[None])[0] - topo.training_loss(w, X, y) == -1.0
    assert F(w2[None])[0] - topo.training_loss(w2, X, y) == 1.0


def test_bad_arguments(data):
    X, y = data
    topo = Topology.layered([5, 1])
    with pytest.raises(QbnnError):
        sample_subnetwork(topo, 1.5)
    with pytest.raises(QbnnError):
        sample_subnetwork(topo, 0.5, unit="layer")
    with pytest.raises(QbnnError):
        dropout_round(topo, X, y, np.zeros(3), K=1, solve_fn=make_solve_fn("greedy"))


def _write_data(path, X, y):
    try:
        from qbnn.data import write_dataset  # noqa: F401
    except Exception:
        write_dataset = None
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "qbnn-data"
        f.attrs["format_version"] = 1
        f.attrs["classes"] = json.dumps([-1, 1])
        f.create_dataset("train/X", data=X.astype(np.int8))
        f.create_dataset("train/y", data=y.astype(np.int8))
        f.create_dataset("test/X", data=X.astype(np.int8))
        f.create_dataset("test/y", data=y.astype(np.int8))


def test_cli_two_rounds(tmp_path, data, capsys):
    from qbnn.cli import main

    X, y = data
    dpath = tmp_path / "data.h5"
    _write_data(dpath, X, y)
    try:
        from qbnn.data import load_dataset
        load_dataset(str(dpath))
    except QbnnError as exc:
        pytest.skip(f"dataset format differs from this test's writer: {exc}")
    net = tmp_path / "net.yaml"
    net.write_text("layers: [5, 3, 1]\n")
    common = ["--data", str(dpath), "--network", str(net), "--K", "2", "--p", "0.5", "--beta", "0.5",
              "--solver", "greedy", "--seed", "1"]
    assert main(["dropout-penalties", *common, "--round", "0", "--out", str(tmp_path / "r0.h5")]) == 0
    s0 = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert s0["round"] == 0 and s0["n_weights"] == 22
    assert main(["dropout-penalties", *common, "--round", "1", "--previous", str(tmp_path / "r0.h5"),
                 "--out", str(tmp_path / "r1.h5")]) == 0
    s1 = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert s1["round"] == 1
    h = Penalties.load(tmp_path / "r1.h5", 22).h
    assert h.dtype == np.float64 and np.all(np.abs(h) <= 0.5)
    with h5py.File(tmp_path / "r1.h5") as f:
        assert f.attrs["round"] == 1 and f.attrs["unit"] == "neuron" and f.attrs["format"] == "qbnn-penalties"
    # wrong-length previous penalties -> one-line error, exit 2
    net.write_text("layers: [5, 2, 1]\n")
    assert main(["dropout-penalties", *common, "--previous", str(tmp_path / "r1.h5"), "--out", str(tmp_path / "x.h5")]) == 2
    assert "penalties have 22 entries" in capsys.readouterr().err


def test_subnetwork_jobs_combine_to_the_one_call_round(tmp_path, data, capsys):
    # the workflow runs each subnetwork as its own job and combines the files: same penalties
    from qbnn.cli import main

    X, y = data
    dpath = tmp_path / "data.h5"
    _write_data(dpath, X, y)
    net = tmp_path / "net.yaml"
    net.write_text("layers: [5, 3, 1]\n")
    common = ["--data", str(dpath), "--network", str(net), "--p", "0.5", "--solver", "greedy", "--seed", "3",
              "--round", "1"]
    topo = Topology.load(str(net), n_inputs=5)
    prev = np.linspace(-0.5, 0.5, topo.n_weights)
    from qbnn.dropout import Penalties
    Penalties(prev).save(tmp_path / "prev.h5")
    common += ["--previous", str(tmp_path / "prev.h5")]
    assert main(["dropout-penalties", *common, "--K", "3", "--beta", "0.7", "--out", str(tmp_path / "one.h5")]) == 0
    subs = []
    for k in range(3):
        subs.append(str(tmp_path / f"sub{k}.h5"))
        assert main(["dropout-subnetwork", *common, "--k", str(k), "--out", subs[-1]]) == 0
    capsys.readouterr()
    assert main(["dropout-penalties", *common, "--beta", "0.7", "--subnetworks", *subs,
                 "--out", str(tmp_path / "comb.h5")]) == 0
    s = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert s["K"] == 3
    one, comb = Penalties.load(tmp_path / "one.h5", 22).h, Penalties.load(tmp_path / "comb.h5", 22).h
    assert np.array_equal(one, comb) and np.abs(comb).max() > 0
    # and the library round agrees with both
    rd = dropout_round(topo, X, y, prev, K=3, p=0.5, beta=0.7, seed=3, round_index=1,
                       solve_fn=make_solve_fn("greedy"))
    assert np.array_equal(rd.penalties, comb)
    # mismatched or repeated subnetwork files: one-line error, exit 2, no output
    bad = [(["--round", "2"], "round 1, this round has round 2"), ([], "given twice")]
    for extra, msg in bad:
        files = subs[:1] if extra else [subs[0], subs[0]]
        args = ["dropout-penalties", *common, *extra, "--subnetworks", *files, "--out", str(tmp_path / "bad.h5")]
        assert main(args) == 2
        assert msg in capsys.readouterr().err and not (tmp_path / "bad.h5").exists()
    assert main(["dropout-penalties", *common, "--subnetworks", str(tmp_path / "prev.h5"),
                 "--out", str(tmp_path / "bad.h5")]) == 2
    assert "not a dropout subnetwork file" in capsys.readouterr().err
