import json

import h5py
import numpy as np
import pytest

from qbnn.cli import main
from qbnn.data import load_dataset
from qbnn.evaluate import evaluate_network
from qbnn.topology import Network, Topology

X4 = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], dtype=np.int8)


def write_data(path, Xtr, ytr, Xte, yte, classes=(3, 8)):
    classes = list(classes)
    with h5py.File(path, "w") as f:
        for split, X, y in (("train", Xtr, ytr), ("test", Xte, yte)):
            f.create_dataset(f"{split}/X", data=np.asarray(X, dtype=np.int8))
            f.create_dataset(f"{split}/y", data=np.asarray(y, dtype=np.int8))
        f.attrs["format"] = "qbnn-data"
        f.attrs["format_version"] = 1
        f.attrs["classes"] = json.dumps(classes)


def and_net():
    # z = x0 + x1 - 1 -> +1 only for (1, 1)
    return Network(Topology.layered([2, 1]), np.array([1, 1, -1], dtype=np.int8))


def test_hand_computed_accuracy_and_margins():
    net = and_net()
    m = evaluate_network(net, X4, np.array([1, 1, -1, -1]), X4[:2], np.array([-1, -1]))
    assert m["train_accuracy"] == 0.75 and m["train_errors"] == 1
    assert m["test_accuracy"] == 0.5 and m["test_errors"] == 1
    # |z| / fan_in = 1/3, 1/3, 1/3, 3/3
    assert m["margin_mean"] == pytest.approx(0.5) and m["margin_min"] == pytest.approx(1 / 3)
    assert sum(m["margin_hist_counts"]) == 4 and m["margin_hist_counts"][-1] == 1


def test_sign_zero_is_plus_one_and_hidden_margins():
    net = Network(Topology.layered([2, 1], bias=False), np.array([1, -1], dtype=np.int8))
    m = evaluate_network(net, X4, np.array([1, 1, -1, 1]))  # z = 0, 2, -2, 0 -> +1, +1, -1, +1
    assert m["train_accuracy"] == 1.0 and m["test_accuracy"] is None
    assert m["margin_zero_fraction"] == 0.5 and m["margin_min"] == 0.0
    t = Topology.layered([2, 2, 1])
    m = evaluate_network(Network(t, np.ones(t.n_weights, dtype=np.int8)), X4, np.array([1, 1, 1, -1]))
    assert "hidden_margin_mean" in m and m["train_accuracy"] == 1.0


def test_multi_output_hamming_loss():
    t = Topology.layered([2, 2])  # out0 = sign(x0 + x1 + 1), out1 = sign(-x0 - x1 - 1)
    net = Network(t, np.array([1, 1, 1, -1, -1, -1], dtype=np.int8))
    y = np.array([0, 0, 0, 0])  # class 0 predicted for (1,1),(1,-1),(-1,1); class 1 for (-1,-1)
    m = evaluate_network(net, X4, y)
    assert m["train_accuracy"] == 0.75 and m["train_errors"] == 2  # one sample, two wrong bits


def test_bad_labels():
    from qbnn.errors import QbnnError

    with pytest.raises(QbnnError, match="±1"):
        evaluate_network(and_net(), X4, np.array([0, 1, 2, 1]))
    with pytest.raises(QbnnError, match="class indices"):
        evaluate_network(Network(Topology.layered([2, 2]), np.ones(6, dtype=np.int8)), X4, np.array([0, 1, 2, 1]))


def test_two_class_labels_are_coded_once_for_the_network():
    """0/1 labels score a one-output network exactly as ±1 labels do (the one label coding)."""
    pm1 = np.array([1, -1, -1, -1])
    assert evaluate_network(and_net(), X4, (pm1 + 1) // 2) == evaluate_network(and_net(), X4, pm1)


def test_evaluate_cli(tmp_path, capsys):
    net_path, data = tmp_path / "net.h5", tmp_path / "d.h5"
    and_net().save(net_path)
    write_data(data, X4, [1, 1, -1, -1], X4, [1, -1, -1, -1])
    out = tmp_path / "m" / "metrics.json"
    rc = main(["evaluate", str(net_path), "--data", str(data), "--out", str(out),
               "--identity", "method=qubo_sa,seed=3"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["train_accuracy"] == 0.75 and summary["test_accuracy"] == 1.0
    rec = json.loads(out.read_text())
    assert rec["method"] == "qubo_sa" and rec["seed"] == 3 and rec["test_errors"] == 0
    assert load_dataset(data)[0].shape == (4, 2)


@pytest.mark.parametrize("case", ["width", "missing", "garbage", "label"])
def test_evaluate_cli_bad_input(tmp_path, capsys, case):
    net_path, data = tmp_path / "net.h5", tmp_path / "d.h5"
    and_net().save(net_path)
    write_data(data, X4, [1, 1, -1, -1], X4, [1, -1, -1, -1])
    argv = ["evaluate", str(net_path), "--data", str(data), "--out", str(tmp_path / "o.json")]
    if case == "width":
        write_data(data, np.ones((4, 3)), [1, 1, -1, -1], np.ones((4, 3)), [1, 1, 1, 1])
    elif case == "missing":
        argv[1] = str(tmp_path / "nope.h5")
    elif case == "garbage":
        net_path.write_bytes(b"not hdf5")
    else:
        argv += ["--label", "noequals"]
    rc = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("qbnn: error:")
    assert not (tmp_path / "o.json").exists()


def test_baseline_cli(tmp_path, capsys):
    rng = np.random.default_rng(0)
    t = Topology.layered([6, 2, 1])
    X = rng.choice([-1, 1], size=(40, 6)).astype(np.int8)
    y = t.predict(rng.choice([-1, 1], size=t.n_weights), X)
    data = tmp_path / "d.h5"
    write_data(data, X[:30], y[:30], X[30:], y[30:])
    topo = tmp_path / "net.yaml"
    topo.write_text("layers: [6, 2, 1]\n")
    out, net_out = tmp_path / "b.json", tmp_path / "b.h5"
    rc = main(["baseline", "--data", str(data), "--network", str(topo), "--method", "greedy", "--seed", "1",
               "--restarts", "3", "--out", str(out), "--net-out", str(net_out)])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    rec = json.loads(out.read_text())
    assert rec["method"] == "greedy" and rec["seed"] == 1 and summary["test_accuracy"] == rec["test_accuracy"]
    net = Network.load(net_out)
    assert net.topology.training_loss(net.weights, X[:30], y[:30]) == rec["train_errors"]
    # evaluate on the saved network reproduces the baseline's accuracies
    rc = main(["evaluate", str(net_out), "--data", str(data)])
    ev = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0 and ev["train_accuracy"] == rec["train_accuracy"] and ev["test_accuracy"] == rec["test_accuracy"]
    rc = main(["baseline", "--data", str(data), "--network", str(topo), "--method", "logreg", "--out", str(tmp_path / "l.json")])
    assert rc == 0 and json.loads(capsys.readouterr().out.strip().splitlines()[-1])["method"] == "logreg"


@pytest.mark.parametrize("case", ["width", "netout", "epochs", "labels", "topo"])
def test_baseline_cli_bad_input(tmp_path, capsys, case):
    data = tmp_path / "d.h5"
    write_data(data, X4, [1, 1, -1, -1], X4, [1, -1, -1, -1])
    topo = tmp_path / "net.yaml"
    topo.write_text("layers: [3, 1]\n" if case == "width" else "layers: [2, 1]\n")
    method = "ste"
    extra = []
    if case == "netout":
        method, extra = "logreg", ["--net-out", str(tmp_path / "n.h5")]
    elif case == "epochs":
        extra = ["--epochs", "-1"]
    elif case == "labels":
        write_data(data, X4, [0, 1, 0, 1], X4, [0, 1, 0, 1])
    elif case == "topo":
        topo.write_text("layers: [2, 1\n")
    rc = main(["baseline", "--data", str(data), "--network", str(topo), "--method", method,
               "--out", str(tmp_path / "o.json"), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("qbnn: error:"), err
    assert not (tmp_path / "o.json").exists() and not (tmp_path / "n.h5").exists()
