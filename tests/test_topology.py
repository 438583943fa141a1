import numpy as np
import pytest

from qbnn.errors import QbnnError
from qbnn.topology import Network, Topology


def _manual_forward(X, w):
    """Plain loop reference for a [d, h, 1] network: w is list of per-neuron (weights, bias)."""
    out = []
    for x in X:
        hidden = [1 if np.dot(wi, x) + bi >= 0 else -1 for wi, bi in w[:-1]]
        wo, bo = w[-1]
        out.append(1 if np.dot(wo, hidden) + bo >= 0 else -1)
    return np.array(out)


def test_layered_weight_order_and_forward_matches_loop():
    rng = np.random.default_rng(1)
    topo = Topology.layered([5, 3, 1], bias=True)
    assert topo.n_weights == 3 * 6 + 4
    W = rng.choice([-1, 1], topo.n_weights)
    per = [(W[topo.weight_slice(k)][:-1], W[topo.weight_slice(k)][-1]) for k in range(4)]
    X = rng.choice([-1, 1], (40, 5))
    np.testing.assert_array_equal(topo.predict(W, X), _manual_forward(X, per))


def test_sign_zero_is_plus_one():
    topo = Topology.from_spec({"inputs": 2, "neurons": {"out": {"from": ["x0", "x1"]}}})
    Z, A = topo.forward(np.array([1, 1]), np.array([[1, -1]]))
    assert Z[0, 0] == 0 and A[0, 0] == 1


def test_batch_forward_equals_single():
    rng = np.random.default_rng(2)
    topo = Topology.load("config/topologies/skip.yaml")
    W = rng.choice([-1, 1], (4, topo.n_weights))
    X = rng.choice([-1, 1], (30, 16))
    Zb, Ab = topo.forward(W, X)
    for r in range(4):
        Z, A = topo.forward(W[r], X)
        np.testing.assert_array_equal(Z, Zb[r])
        np.testing.assert_array_equal(A, Ab[r])


def test_skip_connection_and_receptive_field_shapes():
    topo = Topology.load("config/topologies/skip.yaml")
    assert topo.names[-1] == "out" and topo.fan_in(topo.n_neurons - 1) == 6
    rf = Topology.load("config/topologies/rf4x4.yaml")
    assert rf.n_neurons == 5 and all(len(s) == 4 for s in rf.sources[:4])
    assert list(rf.depth()) == [1, 1, 1, 1, 2]


def test_multi_output_loss_is_hamming():
    topo = Topology.layered([3, 2], bias=False)
    W = np.array([1, 1, 1, -1, -1, -1])
    X = np.array([[1, 1, 1], [-1, -1, -1]])
    # outputs: sample0 -> (+1, -1) ; sample1 -> (-1, +1)
    assert topo.training_loss(W, X, np.array([0, 1])) == 0
    assert topo.training_loss(W, X, np.array([1, 1])) == 2
    np.testing.assert_array_equal(topo.predict(W, X), [0, 1])


@pytest.mark.parametrize(
    "spec, msg",
    [
        ({"inputs": 2, "neurons": {"a": {"from": ["b"]}, "b": {"from": ["a"]}}}, "cycle"),
        ({"inputs": 2, "neurons": {"a": {"from": ["x0", "zz"]}}}, "unknown source 'zz'"),
        ({"layers": [4]}, "at least two"),
        ({"layers": [4, 0, 1]}, "positive"),
        ({"inputs": 2, "neurons": {"a": {"from": ["x0"]}}, "outputs": ["b"]}, "not a neuron"),
        ({"inputs": 2, "neurons": {"a": {"from": ["x0", "x0"]}}}, "twice"),
        ({"layers": [2, 1], "colour": 3}, "unknown topology key"),
    ],
)
def test_bad_topologies(spec, msg):
    with pytest.raises(QbnnError, match=msg):
        Topology.from_spec(spec)


def test_width_mismatch():
    with pytest.raises(QbnnError, match="input width mismatch"):
        Topology.from_spec({"layers": [16, 2, 1]}, n_inputs=64)


def test_spec_roundtrip_and_network_io(tmp_path):
    topo = Topology.load("config/topologies/skip.yaml")
    again = Topology.from_json(topo.to_json())
    assert again.names == topo.names and all((a == b).all() for a, b in zip(again.sources, topo.sources))
    w = np.random.default_rng(0).choice([-1, 1], topo.n_weights)
    Network(topo, w, {"method": "test"}).save(tmp_path / "n.h5")
    net = Network.load(tmp_path / "n.h5")
    np.testing.assert_array_equal(net.weights, w)
    assert net.metadata["method"] == "test"
    with pytest.raises(QbnnError, match="-1 or \\+1"):
        Network(topo, np.zeros(topo.n_weights))
