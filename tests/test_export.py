"""Bit-packed export: NumPy XNOR-popcount inference and the generated C header agree with Network.predict."""
import json
import shutil
import subprocess

import numpy as np
import pytest

from qbnn.cli import main
from qbnn.errors import QbnnError
from qbnn.export import c_header, forward_packed, pack_bits, pack_network, predict_packed
from qbnn.topology import Network, Topology

SKIP_DAG = {"inputs": 6, "neurons": {
    "h0": {"from": ["x0", "x1", "x2"], "bias": True},
    "h1": {"from": ["x2", "x3", "x4", "x5"]},
    "h2": {"from": ["h0", "x5"], "bias": True},
    "out": {"from": ["h0", "h1", "h2", "x0", "x3"], "bias": True}}, "outputs": ["out"]}

CASES = {
    "layered_16_4_1": lambda: Topology.layered([16, 4, 1]),
    "dag_skip": lambda: Topology.from_spec(SKIP_DAG),
    "multi_16_4_3": lambda: Topology.layered([16, 4, 3]),
    "wide_130_3_2_nobias": lambda: Topology.layered([130, 3, 2], bias=False),
    "receptive_field": lambda: Topology.from_spec({"receptive_field": {"image": [5, 5], "patch": 3, "stride": 2},
                                                    "head": [3]}),
}


def _net(name, seed=0):
    topo = CASES[name]()
    rng = np.random.default_rng(seed)
    return Network(topo, rng.choice([-1, 1], size=topo.n_weights).astype(np.int8))


def _X(d, S=200, seed=1):
    return np.random.default_rng(seed).choice([-1, 1], size=(S, d)).astype(np.int8)


def test_pack_bits_layout():
    bits = np.zeros(70, dtype=bool)
    bits[[0, 3, 63, 64, 69]] = True
    w = pack_bits(bits)
    assert w.dtype == np.uint64 and w.shape == (2,)
    assert int(w[0]) == (1 | 1 << 3 | 1 << 63) and int(w[1]) == (1 | 1 << 5)


@pytest.mark.parametrize("name", list(CASES))
def test_predict_packed_matches_network(name):
    net = _net(name)
    X = _X(net.topology.n_inputs)
    Z, A = net.topology.forward(net.weights, X)
    Zp, Ap = forward_packed(pack_network(net), X)
    np.testing.assert_array_equal(Zp, Z)
    np.testing.assert_array_equal(Ap, A)
    np.testing.assert_array_equal(predict_packed(pack_network(net), X), net.predict(X))


def test_npz_cli_roundtrip_and_sizes(tmp_path, capsys):
    net = _net("multi_16_4_3")
    net.save(tmp_path / "net.h5")
    out = tmp_path / "sub" / "net.npz"
    assert main(["export-network", str(tmp_path / "net.h5"), "--format", "npz", "--out", str(out)]) == 0
    s = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert s["n_weights"] == 16 * 4 + 4 + 4 * 3 + 3 == 83
    assert s["float32_bytes"] == 4 * 83
    # 4 hidden x 1 word + 3 outputs x 1 word = 56 bytes, + 7 bias bytes
    assert s["packed_bytes"] == 7 * 8 + 7 < s["float32_bytes"]
    assert s["file_bytes"] == out.stat().st_size
    assert sorted(p.name for p in out.parent.iterdir()) == ["net.npz"]  # no temp files left
    X = _X(16)
    np.testing.assert_array_equal(predict_packed(out, X), net.predict(X))
    np.testing.assert_array_equal(predict_packed(str(out), X), net.predict(X))


def test_predict_packed_errors(tmp_path):
    P = pack_network(_net("layered_16_4_1"))
    with pytest.raises(QbnnError, match="input width"):
        predict_packed(P, _X(15))
    with pytest.raises(QbnnError, match="not found"):
        predict_packed(tmp_path / "missing.npz", _X(16))
    with pytest.raises(QbnnError, match="lacks"):
        predict_packed({"n_inputs": 16}, _X(16))


def _compile_and_run(net, X, tmp_path):
    (tmp_path / "net.h").write_text(c_header(net))
    S, d = X.shape
    rows = ",\n".join("{" + ",".join(str(int(v)) for v in r) + "}" for r in X)
    (tmp_path / "main.c").write_text(
        '#include <stdio.h>\n#include "net.h"\n'
        f"static const int8_t X[{S}][{d}] = {{\n{rows}\n}};\n"
        f"int main(void) {{ int s; for (s = 0; s < {S}; ++s) printf(\"%d\\n\", qbnn_predict(X[s])); return 0; }}\n")
    exe = tmp_path / "prog"
    subprocess.run(["gcc", "-O2", "-std=c99", "-Wall", "-Werror", "-o", str(exe), str(tmp_path / "main.c")],
                   check=True, capture_output=True, text=True, timeout=120)
    res = subprocess.run([str(exe)], check=True, capture_output=True, text=True, timeout=60)
    return np.array([int(t) for t in res.stdout.split()])


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not found: cannot compile the exported C header")
@pytest.mark.parametrize("name", ["layered_16_4_1", "dag_skip", "multi_16_4_3", "wide_130_3_2_nobias"])
def test_c_header_matches_network(name, tmp_path):
    net = _net(name, seed=3)
    X = _X(net.topology.n_inputs, S=300, seed=4)
    pred = _compile_and_run(net, X, tmp_path)
    np.testing.assert_array_equal(pred, net.predict(X))


def test_c_header_cli(tmp_path, capsys):
    net = _net("dag_skip")
    net.save(tmp_path / "net.h5")
    out = tmp_path / "net.h"
    assert main(["export-network", str(tmp_path / "net.h5"), "--format", "c-header", "--out", str(out)]) == 0
    s = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    text = out.read_text()
    assert "static const uint64_t qbnn_weights" in text and "qbnn_predict(const int8_t *x)" in text
    assert "__builtin_popcountll" in text and s["format"] == "c-header"
    assert s["packed_bytes"] == 4 * 8 + 4 and s["float32_bytes"] == 4 * net.topology.n_weights
