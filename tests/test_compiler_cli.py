"""CLI tests: qbnn compile / export-qubo / decode."""
import json

import h5py
import numpy as np
import pytest

from qbnn.cli import main
from qbnn.compiler import load_compiled
from qbnn.qubo import QUBO
from qbnn.topology import Network


def _data(path, S=12, d=4, seed=0, multi=False):
    rng = np.random.default_rng(seed)
    X = rng.choice([-1, 1], size=(S, d)).astype(np.int8)
    y = rng.integers(0, 3, S).astype(np.int8) if multi else rng.choice([-1, 1], size=S).astype(np.int8)
    with h5py.File(path, "w") as f:
        f["train/X"] = X
        f["train/y"] = y
        f["test/X"] = X[:3]
        f["test/y"] = y[:3]
    return X, y


def _summary(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture
def files(tmp_path):
    data = tmp_path / "d.h5"
    X, y = _data(data)
    net = tmp_path / "net.yaml"
    net.write_text("inputs: 4\nneurons:\n  h0: {from: [x0, x1, x2], bias: true}\n  h1: {from: [x2, x3]}\n"
                   "  out: {from: [h0, h1, x3], bias: true}\n")
    return tmp_path, data, net, X, y


def test_compile_export_decode_roundtrip(files, capsys):
    import dimod

    tmp, data, net, X, y = files
    h = np.linspace(-0.5, 0.5, 10)
    np.save(tmp / "h.npy", h)
    out = tmp / "q.h5"
    assert main(["compile", "--data", str(data), "--network", str(net), "--out", str(out), "--margin", "0.5",
                 "--weight-penalties", str(tmp / "h.npy")]) == 0
    s = _summary(capsys)
    cb = load_compiled(out)
    assert s["variables"] == cb.num_variables and s["penalty"] == cb.penalty >= 1.0
    np.testing.assert_array_equal(cb.X, X)
    np.testing.assert_allclose(cb.weight_penalties, h)
    q = cb.qubo
    rng = np.random.default_rng(3)
    states = rng.integers(0, 2, size=(20, q.num_variables))
    # bqm-json
    assert main(["export-qubo", str(out), "--format", "bqm-json", "--out", str(tmp / "q.json")]) == 0
    _summary(capsys)
    with open(tmp / "q.json") as f:
        bqm = dimod.BinaryQuadraticModel.from_serializable(json.load(f))
    assert bqm.vartype is dimod.BINARY and bqm.num_variables == q.num_variables
    np.testing.assert_allclose(bqm.energies((states, list(range(q.num_variables)))), q.energy(states), atol=1e-9)
    # coo
    assert main(["export-qubo", str(out), "--format", "coo", "--out", str(tmp / "q.coo")]) == 0
    _summary(capsys)
    lines = (tmp / "q.coo").read_text().splitlines()
    off = float(next(l for l in lines if l.startswith("# offset=")).split("=")[1])
    ijv = np.loadtxt(tmp / "q.coo", comments="#")
    i, j, v = ijv[:, 0].astype(int), ijv[:, 1].astype(int), ijv[:, 2]
    E = off + (states[:, i] * states[:, j] * v).sum(axis=1)
    np.testing.assert_allclose(E, q.energy(states), atol=1e-9)
    # decode a repaired sample and a raw random one
    w = rng.choice([-1, 1], size=cb.n_weights)
    np.save(tmp / "x.npy", cb.repair(w))
    assert main(["decode", str(out), "--sample", str(tmp / "x.npy"), "--out", str(tmp / "n.h5")]) == 0
    s = _summary(capsys)
    assert s["violations"] == 0 and s["repaired_energy"] == pytest.approx(s["raw_energy"])
    assert s["repaired_energy"] == pytest.approx(cb.objective(w))
    assert s["train_loss"] == cb.topology.training_loss(w, X, y)
    assert (Network.load(tmp / "n.h5").weights == w).all()
    np.save(tmp / "r.npy", states[0])
    assert main(["decode", str(out), "--sample", str(tmp / "r.npy"), "--out", str(tmp / "n2.h5")]) == 0
    s = _summary(capsys)
    assert s["violations"] > 0 and s["raw_energy"] >= s["repaired_energy"] - 1e-9


def test_compile_multiclass(tmp_path, capsys):
    data = tmp_path / "d.h5"
    X, y = _data(data, multi=True)
    net = tmp_path / "n.yaml"
    net.write_text("layers: [4, 2, 3]\nbias: true\n")
    assert main(["compile", "--data", str(data), "--network", str(net), "--out", str(tmp_path / "q.h5")]) == 0
    s = _summary(capsys)
    assert s["penalty"] == 3.0
    cb = load_compiled(tmp_path / "q.h5")
    W = np.random.default_rng(0).choice([-1, 1], size=(4, cb.n_weights))
    np.testing.assert_allclose(cb.energy(cb.repair(W)), cb.topology.training_loss(W, X, y), atol=1e-9)


@pytest.mark.parametrize("case", ["cyclic", "unknown", "width", "penalty", "lambda", "hlen", "nodata", "badsample"])
def test_bad_inputs_exit_2_without_output(files, capsys, case):
    tmp, data, net, X, y = files
    out = tmp / "out.h5"
    args = ["compile", "--data", str(data), "--network", str(net), "--out", str(out)]
    if case == "cyclic":
        net.write_text("inputs: 4\nneurons:\n  a: {from: [x0, b]}\n  b: {from: [a]}\n")
    elif case == "unknown":
        net.write_text("inputs: 4\nneurons:\n  a: {from: [x0, nope]}\n")
    elif case == "width":
        net.write_text("layers: [5, 1]\n")
    elif case == "penalty":
        args += ["--margin", "1", "--penalty", "1.5"]
    elif case == "lambda":
        args += ["--margin=-0.5"]
    elif case == "hlen":
        np.save(tmp / "h.npy", np.zeros(3))
        args += ["--weight-penalties", str(tmp / "h.npy")]
    elif case == "nodata":
        args[2] = str(tmp / "missing.h5")
    elif case == "badsample":
        assert main(args) == 0
        capsys.readouterr()
        np.save(tmp / "s.npy", np.zeros(7))
        args = ["decode", str(out), "--sample", str(tmp / "s.npy"), "--out", str(tmp / "net.h5")]
        out = tmp / "net.h5"
    rc = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("qbnn: error:")
    assert not out.exists()
    assert not [p for p in tmp.iterdir() if p.name.startswith(".")]
