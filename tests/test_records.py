"""Typed records carry their identity: round trips of the identity, metrics, penalties and network records,
corrupt files refused in one line, and no result path decoded anywhere in src/."""
import json
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qbnn.cli import main
from qbnn.dropout_files import Penalties
from qbnn.errors import QbnnError
from qbnn.identity import RUN_FIELDS, Identity
from qbnn.run_metrics import RunMetrics
from qbnn.topology import Network, Topology

ROOT = Path(__file__).resolve().parents[1]
names = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.", min_size=1,
                max_size=12)
identities = st.builds(
    Identity, experiment=st.none() | names, dataset=st.none() | names, topology=st.none() | names,
    method=st.none() | names, solver=st.none() | names,
    margin=st.none() | st.floats(0, 10, allow_nan=False, allow_infinity=False), dropout=st.none() | st.booleans(),
    dropout_exp=st.none() | names, dropout_round=st.none() | st.integers(0, 50),
    seed=st.none() | st.integers(0, 2**32 - 1))


@settings(max_examples=60, deadline=None)
@given(identities)
def test_identity_text_round_trip(ident):
    assert Identity.parse(ident.to_text()) == ident
    assert Identity.from_dict(json.loads(json.dumps(ident.to_dict()))) == ident


@settings(max_examples=25, deadline=None)
@given(identities, st.dictionaries(st.sampled_from(["seconds", "note", "train_errors"]),
                                   st.integers(0, 100) | names, max_size=3),
       st.floats(0, 1), st.floats(0, 1))
def test_metrics_record_round_trip(tmp_path_factory, ident, extra, train, test):
    path = tmp_path_factory.mktemp("m") / "m.json"
    rec = RunMetrics({"train_accuracy": train, "test_accuracy": test, **extra}, ident)
    rec.save(path)
    back = RunMetrics.load(path)
    assert back.identity == ident and back.values == rec.values and back.provenance == rec.provenance
    assert {k: v for k, v in json.loads(path.read_text()).items() if k in Identity.names()} == ident.to_dict()


@settings(max_examples=15, deadline=None)
@given(identities, st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=40))
def test_penalties_record_round_trip(tmp_path_factory, ident, h):
    path = tmp_path_factory.mktemp("p") / "pen.h5"
    Penalties(np.array(h), {"round": 1}, {"count": np.arange(len(h))}, ident).save(path)
    back = Penalties.load(path, len(h))
    np.testing.assert_array_equal(back.h, np.array(h))
    assert back.identity == ident and back.attrs["round"] == 1
    np.save(path.with_suffix(".npy"), np.array(h))  # a plain vector from outside reads the same
    np.testing.assert_array_equal(Penalties.load(path.with_suffix(".npy")).h, np.array(h))


@settings(max_examples=10, deadline=None)
@given(identities, st.integers(0, 2**16))
def test_network_record_keeps_identity(tmp_path_factory, ident, seed):
    topo = Topology.load(ROOT / "config/topologies/h2.yaml", n_inputs=16)
    w = np.random.default_rng(seed).choice(np.array([-1, 1], dtype=np.int8), topo.n_weights)
    path = tmp_path_factory.mktemp("n") / "net.h5"
    Network(topo, w, {"method": "x"}, ident).save(path)
    back = Network.load(path)
    assert back.identity == ident and back.metadata == {"method": "x"}
    np.testing.assert_array_equal(back.weights, w)
    with h5py.File(path) as f:
        assert json.loads(f.attrs["provenance"])["versions"]["qbnn"]


@pytest.mark.parametrize("text", ["seed=-1", "seed=x", "margin=nan", "margin=-0.1", "dropout=maybe", "colour=red",
                                  "method=", "seed=1,seed=2", "noequals"])
def test_bad_identity_option_is_one_line(tmp_path, capsys, text):
    assert main(["baseline", "--data", "d.h5", "--network", "n.yaml", "--method", "ste", "--identity", text,
                 "--out", str(tmp_path / "m.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--identity" in err[0]


@pytest.mark.parametrize("content,culprit", [
    ('{"train_accuracy": 1, "test_accuracy": 0.5, "seed": -3}', "seed"),
    ('{"train_accuracy": 1, "test_accuracy": 0.5, "margin": "big"}', "margin"),
    ('{"train_accuracy": 1, "test_accuracy": 0.5, "dropout": 3}', "dropout"),
    ('{"train_accuracy": 1, "test_accuracy": 0.5, "provenance": [1]}', "provenance"),
    ('{"train_accuracy": 2, "test_accuracy": 0.5}', "train_accuracy"),
    ("[1, 2]", "one JSON object"),
])
def test_corrupt_metrics_record_refused(tmp_path, content, culprit):
    p = tmp_path / "m.json"
    p.write_text(content)
    with pytest.raises(QbnnError, match=culprit) as exc:
        RunMetrics.load(p)
    assert str(p) in str(exc.value) and "\n" not in str(exc.value)


def test_corrupt_identity_attribute_refused(tmp_path):
    topo = Topology.load(ROOT / "config/topologies/h2.yaml", n_inputs=16)
    p = tmp_path / "net.h5"
    Network(topo, np.ones(topo.n_weights, dtype=np.int8)).save(p)
    for bad in ("{not json", json.dumps({"seed": "x"}), json.dumps([1])):
        with h5py.File(p, "a") as f:
            f.attrs["identity"] = bad
        with pytest.raises(QbnnError, match="identity") as exc:
            Network.load(p)
        assert str(p) in str(exc.value)
    p.write_bytes(b"")
    with pytest.raises(QbnnError):
        Penalties.load(p)


def test_no_result_path_is_decoded_in_src():
    """Run identity is read from the records: no regular expression or positional check over result
    paths (``qubo_m…``, ``_dropout-``, ``parts[-4]``, ``rpartition("_s")``) remains in src/."""
    path_decoding = re.compile(r"""re\.(compile|match|fullmatch|search)\(r?["'][^"']*(qubo|_dropout|_s\\d|m\[0-9)"""
                               r"""|\.parts\[-\d\]|parts\[-[2-9]\]|rpartition\(["']_s["']\)"""
                               r"""|\.stem\)?\s*(==|\.startswith|\.split)""")
    hits = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}" for p in sorted((ROOT / "src").rglob("*.py"))
            for i, line in enumerate(p.read_text().splitlines(), 1) if path_decoding.search(line)]
    assert not hits, hits
    # and the modules that read results never import re at all
    for mod in ("report.py", "figures/runs.py", "figures/accuracy.py", "figures/paper_b.py", "run_metrics.py",
                "cli/aggregate.py", "cli/figures.py", "cli/paper_b_figures.py"):
        assert not re.search(r"^import re$|^from re import", (ROOT / "src/qbnn" / mod).read_text(), re.M), mod


def test_run_fields_are_the_issue_s():
    assert RUN_FIELDS == ("experiment", "dataset", "topology", "method", "seed")
