"""The one network type for MIP and QUBO networks: step topologies, real/integer weights, the shared
forward pass, the unified file (and the former qbnn-mip-network files), train-mip --read-solution."""
from __future__ import annotations

import json

import h5py
import highspy
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from qbnn.cli import main
from qbnn.data import write_dataset
from qbnn.errors import QbnnError
from qbnn.identity import Identity
from qbnn.mip import MIPNetwork
from qbnn.mip.datasets import planted
from qbnn.mip.layers import forward, loss, predict
from qbnn.topology import NETWORK_FORMAT_VERSION, Network, Topology


def reference_forward(Ws, bs, X):
    """The former MIP forward (float64 ``h @ W.T + b`` per layer, step hidden units), kept as the reference."""
    h = np.asarray(X, dtype=float)
    acts = []
    for k, (W, b) in enumerate(zip(Ws, bs)):
        a = h @ W.T + b
        if k == len(Ws) - 1:
            return acts, a
        h = (a >= 0).astype(float)
        acts.append(h)


@st.composite
def step_networks(draw):
    layers = draw(st.lists(st.integers(1, 6), min_size=2, max_size=5))
    S = draw(st.integers(1, 25))
    seed = draw(st.integers(0, 2**31 - 1))
    whole = draw(st.booleans())  # small whole numbers: many pre-activations exactly 0 (the step's boundary)
    rng = np.random.default_rng(seed)
    if whole:
        Ws = [rng.integers(-2, 3, size=(layers[k], layers[k - 1])).astype(float) for k in range(1, len(layers))]
        bs = [rng.integers(-2, 3, size=layers[k]).astype(float) for k in range(1, len(layers))]
        X = rng.integers(-2, 3, size=(S, layers[0])).astype(float)
    else:
        Ws = [rng.normal(size=(layers[k], layers[k - 1])) for k in range(1, len(layers))]
        bs = [rng.normal(size=layers[k]) for k in range(1, len(layers))]
        X = rng.uniform(-10, 10, size=(S, layers[0]))
    return layers, Ws, bs, X, rng


@settings(max_examples=60, deadline=None)
@given(step_networks())
def test_shared_forward_equals_layerwise_numpy(case):
    layers, Ws, bs, X, rng = case
    acts_ref, out_ref = reference_forward(Ws, bs, X)
    net = Network.from_layers(Ws, bs)
    Z, A = net.topology.forward(net.weights, X)
    blocks = net.topology.blocks
    assert len(blocks) == len(layers) - 1
    # bit-identical pre-activations (same summation order) and activations, layer by layer
    assert np.array_equal(Z[:, blocks[-1][0]:], out_ref)
    for (k0, k1), ref in zip(blocks[:-1], acts_ref):
        assert np.array_equal(A[:, k0:k1], ref)
    acts, out = forward(Ws, bs, X)  # the MILP code's view: a thin call of the same pass
    assert np.array_equal(out, out_ref) and all(np.array_equal(a, r) for a, r in zip(acts, acts_ref))
    ref_pred = np.where(out_ref[:, 0] >= 0, 1, -1) if layers[-1] == 1 else np.argmax(out_ref, axis=1)
    assert np.array_equal(predict(Ws, bs, X), ref_pred)
    y = rng.choice([-1, 1], size=len(X)) if layers[-1] == 1 else rng.integers(0, layers[-1], size=len(X))
    T = net.topology.targets(y)
    assert loss(Ws, bs, X, y) == int(np.sum(np.where(out_ref >= 0, 1, -1) != T))
    # several weight vectors at once give each one's result
    W2 = np.stack([net.weights, -net.weights])
    Z2, _ = net.topology.forward(W2, X)
    assert np.array_equal(Z2[0], Z) and np.array_equal(Z2[1], net.topology.forward(-net.weights, X)[0])


def test_mip_layers_are_a_layered_step_topology_in_canonical_order():
    rng = np.random.default_rng(3)
    Ws = [rng.normal(size=(3, 4)), rng.normal(size=(2, 3))]
    bs = [rng.normal(size=3), rng.normal(size=2)]
    net = Network.from_layers(Ws, bs)
    assert net.topology.to_spec() == Topology.from_spec({"layers": [4, 3, 2], "activation": "step"}).to_spec()
    # canonical order: neuron by neuron, its W row (edges in source order) then its bias
    expect = np.concatenate([np.append(W[j], b[j]) for W, b in zip(Ws, bs) for j in range(len(b))])
    assert np.array_equal(net.weights, expect)
    labels = net.topology.weight_labels()
    assert labels[:5] == ["x0->h1_0", "x1->h1_0", "x2->h1_0", "x3->h1_0", "bias->h1_0"]
    assert labels[-3:] == ["h1_1->out1", "h1_2->out1", "bias->out1"]
    back_W, back_b = net.layer_arrays()
    assert all(np.array_equal(a, b) for a, b in zip(back_W + back_b, Ws + bs))
    nobias = Network.from_layers(Ws, None)  # no bias: W rows only, zero biases back
    assert nobias.topology.n_weights == 12 + 6 and not nobias.topology.bias.any()
    assert all(np.array_equal(b, np.zeros(len(b))) for b in nobias.layer_arrays()[1])
    # the spec round-trips with its activation; sign specs stay as before (no activation key)
    assert Topology.from_spec(net.topology.to_spec()).to_spec() == net.topology.to_spec()
    assert "activation" not in Topology.layered([4, 3, 2]).to_spec()
    with pytest.raises(QbnnError, match="not a dense layered"):
        Network(Topology.from_spec({"inputs": 2, "neurons": {"a": {"from": ["x0"]}, "o": {"from": ["a", "x1"]}},
                                    "activation": "step"}), np.zeros(3), domain="real").layer_arrays()
    with pytest.raises(QbnnError, match="activation"):
        Topology.from_spec({"layers": [2, 1], "activation": "relu"})


def test_weight_domains_round_trip_and_refusals(tmp_path):
    step = Topology.layered([2, 2, 1], activation="step")
    w = np.array([0.5, -1.25, 0.1, 2.0, 0.0, -0.3, 1.0, 1.0, -0.5])
    Network(step, w, domain="real").save(tmp_path / "r.h5")
    back = Network.load(tmp_path / "r.h5")
    assert back.domain == "real" and back.topology.to_spec() == step.to_spec() and np.array_equal(back.weights, w)
    with h5py.File(tmp_path / "r.h5") as f:
        assert f.attrs["format_version"] == NETWORK_FORMAT_VERSION and f["weights"].dtype == np.float64
    whole = np.array([1, -2, 0.25, 3, 0, -0.5, 1, 1, 0.75])  # integer weights, real biases
    assert Network(step, whole, domain="integer").domain == "integer"
    for bad, match in (((step, whole + 0.5, "integer"), "whole"), ((Topology.layered([2, 2, 1]), w, "real"), "step"),
                       ((step, np.where(w > 1, np.nan, w), "real"), "finite"), ((step, w, "ternary"), "domain"),
                       ((step, w, "binary"), "-1 or \\+1")):
        with pytest.raises(QbnnError, match=match):
            Network(bad[0], bad[1], domain=bad[2])
    # a version-1 file (no weight_domain) is a ±1 network; a newer version is refused in one line
    sign = Network(Topology.layered([2, 1]), np.array([1, -1, 1]))
    sign.save(tmp_path / "s.h5")
    with h5py.File(tmp_path / "s.h5", "a") as f:
        del f.attrs["weight_domain"]
        f.attrs["format_version"] = 1
    assert Network.load(tmp_path / "s.h5").domain == "binary"
    with h5py.File(tmp_path / "s.h5", "a") as f:
        f.attrs["format_version"] = NETWORK_FORMAT_VERSION + 1
    with pytest.raises(QbnnError, match="format version"):
        Network.load(tmp_path / "s.h5")
    with h5py.File(tmp_path / "r.h5", "a") as f:
        f.attrs["weight_domain"] = "binary"  # real values claimed to be ±1
    with pytest.raises(QbnnError, match="r.h5"):
        Network.load(tmp_path / "r.h5")


def write_old_mip_file(path, net: MIPNetwork) -> None:
    """A network file as qbnn wrote it before the unified type (MIPNetwork.save of format qbnn-mip-network)."""
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "qbnn-mip-network"
        f.attrs["layers"] = json.dumps(net.layers)
        f.attrs["method"] = net.method
        f.attrs["rho"] = float(net.rho)
        f.attrs["integer"] = bool(net.integer)
        f.attrs["weight_bound"] = float(net.weight_bound)
        f.attrs["info"] = json.dumps(net.info_, default=float)
        net.identity.write_attrs(f.attrs)
        for k, (W, b) in enumerate(zip(net.weights_, net.biases_)):
            g = f.create_group(f"layer{k}")
            g["weights"] = np.asarray(W, float)
            g["bias"] = np.asarray(b, float)


def _cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    return code, (json.loads(lines[-1]) if code == 0 and lines else None), err


def _data(tmp_path, seed=5, layers=(3, 2, 1), n_train=20):
    X, y, Xte, yte = planted(n_train=n_train, n_test=30, layers=list(layers), seed=seed)
    data = tmp_path / "d.h5"
    write_dataset(data, X, y, Xte, yte, {"encoding": "real", "classes": [0, 1]})
    topo = tmp_path / "net.yaml"
    topo.write_text(f"layers: {list(layers)}\n")
    return X, y, data, topo


def test_old_mip_network_file_loads_converted_and_evaluates_alike(tmp_path, capsys):
    X, y, data, topo = _data(tmp_path)
    code, _, err = _cli(capsys, "train-mip", "--data", data, "--network", topo, "--method", "local", "--iterations", "2",
                        "--time-limit", "5", "--identity", "experiment=e,topology=t", "--out", tmp_path / "new.h5")
    assert code == 0, err
    new = MIPNetwork.load(tmp_path / "new.h5")
    write_old_mip_file(tmp_path / "old.h5", new)
    old = MIPNetwork.load(tmp_path / "old.h5")
    assert old.layers == new.layers and old.method == "local" and old.info_ == new.info_
    assert old.identity == new.identity and old.network_.domain == "real"
    assert np.array_equal(old.network_.weights, new.network_.weights)
    assert np.array_equal(old.predict(X), new.predict(X))
    metrics = {}
    for name in ("old", "new"):
        code, _, err = _cli(capsys, "evaluate", tmp_path / f"{name}.h5", "--data", data, "--out", tmp_path / f"{name}.json")
        assert code == 0, err
        metrics[name] = json.loads((tmp_path / f"{name}.json").read_text())
        metrics[name].pop("network")
        metrics[name].pop("provenance", None)
    assert metrics["old"] == metrics["new"]
    assert metrics["new"]["method"] == "mip_local" and metrics["new"]["train_errors"] == loss(new.weights_, new.biases_, X, y)
    # a damaged old file: one line naming it
    with h5py.File(tmp_path / "old.h5", "a") as f:
        del f["layer1/bias"]
    with pytest.raises(QbnnError, match="old.h5.*layer1"):
        MIPNetwork.load(tmp_path / "old.h5")
    # a ±1 sign network is not a MIP network
    Network(Topology.layered([3, 1]), np.ones(4)).save(tmp_path / "sign.h5")
    with pytest.raises(QbnnError, match="sign.h5: not a MIP network"):
        MIPNetwork.load(tmp_path / "sign.h5")
    # export-network bit-packs ±1 sign networks only: one line naming the file, nothing written
    for fmt, out in (("npz", tmp_path / "x.npz"), ("c-header", tmp_path / "x.h")):
        code, _, err = _cli(capsys, "export-network", tmp_path / "new.h5", "--format", fmt, "--out", out)
        assert code == 2 and err.startswith(f"qbnn: error: {tmp_path / 'new.h5'}: only ±1 sign networks")
        assert len(err.strip().splitlines()) == 1 and not out.exists()


def _outside_solve(model, sol, style):
    """Solve the written model with HiGHS as an outside solver would, and write its solution file."""
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    assert h.readModel(str(model)) != highspy.HighsStatus.kError
    h.setOptionValue("mip_rel_gap", 0.0)
    h.run()
    assert h.modelStatusToString(h.getModelStatus()) == "Optimal"
    if style == "highs":
        h.writeSolution(str(sol), 0)
    else:  # the common "name value" .sol (Gurobi style)
        x = h.getSolution().col_value
        sol.write_text(f"# Objective value = {h.getInfo().objective_function_value}\n"
                       + "".join(f"c{j} {v!r}\n" for j, v in enumerate(x)))
    return h.getInfo().objective_function_value


@pytest.mark.parametrize("style", ["highs", "gurobi"])
def test_read_solution_of_an_outside_solve(tmp_path, capsys, style):
    X, y, data, topo = _data(tmp_path, seed=7, n_train=16)
    common = ["train-mip", "--data", data, "--network", topo, "--mip-gap", "0", "--time-limit", "30"]
    code, direct, err = _cli(capsys, *common, "--write-model", tmp_path / "m.mps", "--out", tmp_path / "direct.h5",
                             "--metrics", tmp_path / "direct.json")
    assert code == 0, err
    assert direct["status"] == "Optimal"
    sol = tmp_path / "m.sol"
    outside = _outside_solve(tmp_path / "m.mps", sol, style)
    code, back, err = _cli(capsys, *common, "--read-solution", sol, "--out", tmp_path / "back.h5",
                           "--metrics", tmp_path / "back.json")
    assert code == 0, err
    assert back["status"] == "solution file" and back["solution"] == str(sol) and back["mip_gap"] is None
    a, b = MIPNetwork.load(tmp_path / "direct.h5"), MIPNetwork.load(tmp_path / "back.h5")
    # the objective is recomputed by the forward pass: the network's training errors
    assert back["objective"] == loss(b.weights_, b.biases_, X, y)
    # both solves are optimal: the same network, or (optimum not unique) the same loss
    same = np.array_equal(a.network_.weights, b.network_.weights)
    assert same or back["objective"] == loss(a.weights_, a.biases_, X, y) == round(outside)
    assert back["train_accuracy"] == direct["train_accuracy"] or not same
    assert json.loads((tmp_path / "back.json").read_text())["method"] == "mip_exact"


def test_read_solution_refusals(tmp_path, capsys):
    X, y, data, topo = _data(tmp_path, seed=8, n_train=10)
    common = ["train-mip", "--data", data, "--network", topo, "--time-limit", "10"]
    code, _, err = _cli(capsys, *common, "--write-model", tmp_path / "m.lp", "--out", tmp_path / "ok.h5")
    assert code == 0, err
    n_cols = sum(1 for line in (tmp_path / "m.lp").read_text().split() if line.startswith("c"))
    garbage = tmp_path / "garbage.sol"
    garbage.write_text("this is not a solution\n")
    too_far = tmp_path / "far.sol"
    too_far.write_text(f"c0 1\nc{10 * n_cols + 100} 0.5\n")
    not_number = tmp_path / "nan.sol"
    not_number.write_text("c0 nan\n")
    binary = tmp_path / "bin.sol"
    binary.write_bytes(b"\xff\xfe\x00c0 1")
    cases = [([garbage], "lists no column values"), ([too_far], "does not belong"), ([not_number], "c0"),
             ([binary], "UTF-8"), ([tmp_path / "missing.sol"], "missing.sol"),
             ([garbage, "--method", "split"], "--read-solution needs --method exact")]
    for (sol, *extra), match in cases:
        out = tmp_path / "bad.h5"
        code, _, err = _cli(capsys, *common, "--read-solution", sol, *extra, "--out", out, "--metrics", tmp_path / "b.json")
        assert code == 2 and err.startswith("qbnn: error:") and len(err.strip().splitlines()) == 1, (sol, err)
        assert match in err, err
        assert not out.exists() and not (tmp_path / "b.json").exists()


def test_mip_network_identity_and_metadata_in_the_one_file(tmp_path):
    X, y, _, _ = planted(n_train=12, n_test=4, layers=[3, 2, 2], seed=1)
    net = MIPNetwork([3, 2, 2], "exact", integer=True, time_limit=10).fit(X, y)
    net.identity = Identity(method="mip_exact", seed=3, dataset="planted")
    net.save(tmp_path / "n.h5")
    plain = Network.load(tmp_path / "n.h5")  # readable as the plain network type
    assert plain.domain == "integer" and plain.topology.activation == "step" and plain.identity.seed == 3
    assert plain.metadata["method"] == "exact" and json.loads(plain.metadata["layers"]) == [3, 2, 2]
    assert np.array_equal(plain.predict(X), net.predict(X))
    assert plain.topology.training_loss(plain.weights, X, y) == loss(net.weights_, net.biases_, X, y)


@st.composite
def sign_dags(draw):
    """Random ±1 DAGs: neurons read inputs and earlier neurons, some sharing their source list (blocks)."""
    d = draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    neurons, nodes = {}, [f"x{i}" for i in range(d)]
    for j in range(draw(st.integers(1, 7))):
        prev = list(neurons.values())
        if prev and rng.random() < 0.5:  # the same sources as the previous neuron: one block
            body = dict(prev[-1])
        else:
            k = int(rng.integers(1, len(nodes) + 1))
            body = {"from": [nodes[i] for i in sorted(rng.choice(len(nodes), size=k, replace=False))],
                    "bias": bool(rng.random() < 0.5)}
        neurons[f"n{j}"] = body
        nodes.append(f"n{j}")
    topo = Topology.from_spec({"inputs": d, "neurons": neurons})
    W = rng.choice([-1, 1], size=(int(rng.integers(1, 4)), topo.n_weights)).astype(np.int8)
    X = rng.choice([-1, 1], size=(int(rng.integers(1, 12)), d)).astype(np.int8)
    return topo, W, X


@settings(max_examples=60, deadline=None)
@given(sign_dags())
def test_sign_forward_equals_neuron_by_neuron_reference(case):
    topo, W, X = case
    Z, A = topo.forward(W, X)
    assert Z.dtype == np.int32 and A.dtype == np.int32
    d = topo.n_inputs
    for r in range(len(W)):
        for s in range(len(X)):
            v = list(X[s].astype(int))
            for k, src in enumerate(topo.sources):
                w = W[r, topo.weight_slice(k)].astype(int)
                z = sum(int(w[i]) * v[int(j)] for i, j in enumerate(src)) + (int(w[-1]) if topo.bias[k] else 0)
                assert Z[r, s, k] == z
                v.append(1 if z >= 0 else -1)
            assert list(A[r, s]) == v[d:]


def test_stdout_is_the_json_line_alone_and_a_bad_solution_file_one_error_line(tmp_path):
    """HiGHS prints a banner from C++ on its first construction in a process; a command's stdout is
    still its one JSON line, and a refused solution file leaves stdout empty and one stderr line."""
    import subprocess
    import sys

    X, y, _, _ = planted(n_train=12, n_test=4, d=3, layers=[3, 2, 1], seed=1)
    write_dataset(tmp_path / "d.h5", X, y, X, y, {"encoding": "real", "classes": [0, 1]})
    (tmp_path / "n.yaml").write_text("layers: [3, 2, 1]\nbias: true\n")
    base = [sys.executable, "-m", "qbnn", "train-mip", "--data", str(tmp_path / "d.h5"),
            "--network", str(tmp_path / "n.yaml"), "--method", "exact", "--time-limit", "10"]
    ok = subprocess.run(base + ["--out", str(tmp_path / "m.h5")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    lines = ok.stdout.strip().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["method"] == "mip_exact", ok.stdout
    (tmp_path / "bad.sol").write_text("garbage\n")
    bad = subprocess.run(base + ["--read-solution", str(tmp_path / "bad.sol"), "--out", str(tmp_path / "b.h5")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("qbnn: error: ") and "bad.sol" in bad.stderr
    assert not (tmp_path / "b.h5").exists()
