"""Hardening (issue 14), by kind: every malformed input file of every kind, every bad number and every
bad output path gives one ``qbnn: error:`` line naming the culprit, exit 2, inputs untouched and no
output left; outputs are all-or-none, honour the umask and leave no stale temporaries; the help works.

The property tests corrupt valid files at random (bytes, attributes, datasets) and require a validated
refusal (never the last-resort "unexpected" line) or a normal run.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qbnn.cli import COMMANDS, main
from valid_files import FAST_SOLVE, build_valid_files

BIN = Path(sys.executable).parent
QBNN = shutil.which("qbnn", path=str(BIN)) or "qbnn"
HYP = settings(max_examples=8, deadline=None, derandomize=True,
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A small valid instance of every file kind."""
    d = build_valid_files(tmp_path_factory.mktemp("good"))
    ok = lambda argv: main([str(a) for a in argv]) == 0  # noqa: E731
    from qbnn.dropout_files import Penalties

    Penalties(np.linspace(-1, 1, 37)).save(d / "pen.h5")
    common = ["--data", d / "data.h5", "--network", d / "net.yaml", "--solver", "greedy", "--time-limit", "none"]
    assert ok(["dropout-subnetwork", *common, "--k", "0", "--out", d / "sub0.h5"])
    (d / "graph.txt").write_text("4 4\n1 2 1\n2 3 1\n3 4 1\n4 1 1\n")
    assert ok(["aggregate", d / "m.json", "--out", d / "metrics.csv"])
    return d


def _run(argv, capsys):
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _assert_refused(rc, err, culprit=None):
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("qbnn: error:"), err
    assert "Traceback" not in err
    assert "unexpected" not in lines[0], lines[0]  # a validated refusal, not the last-resort handler
    if culprit is not None:
        assert str(culprit) in lines[0], lines[0]


# (kind, file in good/, suffix, argv using {f} = the file under test, {g} = good dir, {o} = output)
READERS = [
    ("qubo", "q.h5", ".h5", ["export-qubo", "{f}", "--format", "coo", "--out", "{o}"]),
    ("qubo-compiled", "q.h5", ".h5", ["decode", "{f}", "--sample", "{g}/sol.h5", "--out", "{o}"]),
    ("qubo-solve", "q.h5", ".h5", ["solve", "{f}", *FAST_SOLVE, "--out", "{o}"]),
    ("network", "net.h5", ".h5", ["evaluate", "{f}", "--data", "{g}/data.h5", "--out", "{o}"]),
    ("network-export", "net.h5", ".h5", ["export-network", "{f}", "--format", "c-header", "--out", "{o}"]),
    ("solution", "sol.h5", ".h5", ["decode", "{g}/q.h5", "--sample", "{f}", "--out", "{o}"]),
    ("dataset", "data.h5", ".h5", ["compile", "--data", "{f}", "--network", "{g}/net.yaml", "--out", "{o}"]),
    ("dataset-evaluate", "data.h5", ".h5", ["evaluate", "{g}/net.h5", "--data", "{f}", "--out", "{o}"]),
    ("penalties", "pen.h5", ".h5", ["compile", "--data", "{g}/data.h5", "--network", "{g}/net.yaml",
                                    "--weight-penalties", "{f}", "--out", "{o}"]),
    ("penalties-previous", "pen.h5", ".h5", ["dropout-subnetwork", "--data", "{g}/data.h5", "--network",
                                             "{g}/net.yaml", "--previous", "{f}", "--solver", "greedy",
                                             "--time-limit", "none", "--k", "0", "--out", "{o}"]),
    ("subnetwork", "sub0.h5", ".h5", ["dropout-penalties", "--data", "{g}/data.h5", "--network", "{g}/net.yaml",
                                      "--subnetworks", "{f}", "--out", "{o}"]),
    ("topology", "net.yaml", ".yaml", ["compile", "--data", "{g}/data.h5", "--network", "{f}", "--out", "{o}"]),
    ("metrics-json", "m.json", ".json", ["aggregate", "{f}", "--out", "{o}"]),
    ("metrics-csv", "metrics.csv", ".csv", ["figures", "--rounds-out", "{o}", "--metrics", "{f}"]),
    ("graph", "graph.txt", ".txt", ["maxcut", "{f}", "--steps", "10", "--replicas", "2"]),
    ("solution-figures", "sol.h5", ".h5", ["figures", "--solutions", "{f}", "--energy-out", "{o}"]),
    ("network-figures", "net.h5", ".h5", ["figures", "--networks", "{f}", "--data", "{g}/data.h5",
                                          "--weights-out", "{o}"]),
]
H5_READERS = [r for r in READERS if r[2] == ".h5"]


def _reader_argv(argv, f, good, out):
    return [a.format(f=f, g=good, o=out) for a in argv]


def _check_reader(kind, argv, f, good, tmp, capsys, expect_refusal: bool):
    out = tmp / "out.bin"
    before = _digest(f)
    rc, stdout, err = _run(_reader_argv(argv, f, good, out), capsys)
    assert _digest(f) == before, "input file changed"
    if expect_refusal or rc != 0:
        _assert_refused(rc, err)
        assert not out.exists()
        assert not [p for p in tmp.iterdir() if ".qbnn-tmp-" in p.name]
    else:
        json.loads(stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("kind,name,suffix,argv", READERS, ids=[r[0] for r in READERS])
@HYP
@given(data=st.binary(min_size=0, max_size=400))
def test_random_bytes_are_refused_by_every_reader(kind, name, suffix, argv, data, good, tmp_path_factory, capsys):
    tmp = tmp_path_factory.mktemp(kind)
    f = tmp / f"in{suffix}"
    f.write_bytes(data)
    if kind == "topology" and data.strip() == b"":  # YAML null: refused too, but say so explicitly
        pass
    out = tmp / "out.bin"
    rc, _, err = _run(_reader_argv(argv, f, good, out), capsys)
    _assert_refused(rc, err, culprit=f)
    assert f.read_bytes() == data and not out.exists()


def _h5_nodes(path: Path) -> list[tuple[str, str]]:
    """(kind, name) of every attribute ('attr', 'obj/attrname') and dataset ('dataset', 'path')."""
    nodes = []
    with h5py.File(path, "r") as f:
        for k in f.attrs:
            nodes.append(("attr", f"/{k}"))

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                nodes.append(("dataset", name))
            for k in obj.attrs:
                nodes.append(("attr", f"{name}/{k}"))

        f.visititems(visit)
    return sorted(nodes)


ATTR_VALUES = [None, "garbage {", "[1, 2", "99", "ß∂ƒ", float("nan"), 1e300, -7, np.bytes_(b"\xff\xfe"), np.array([1, 2, 3])]
DATASET_VALUES = [None, "group", np.array([b"abc", b"def"]), np.full((3, 3), np.nan), np.zeros(0),
                  np.full((2, 2, 2), 1), np.array([1e300]), np.array(["x" * 5], dtype="S")]


def _corrupt(path: Path, node: tuple[str, str], value) -> None:
    kind, name = node
    with h5py.File(path, "a") as f:
        if kind == "attr":
            obj_name, _, attr = name.rpartition("/")
            obj = f[obj_name or "/"]
            if value is None:
                del obj.attrs[attr]
            else:
                obj.attrs[attr] = value
        else:
            del f[name]
            if isinstance(value, str) and value == "group":
                f.create_group(name)
            elif value is not None:
                f.create_dataset(name, data=value)


@pytest.mark.parametrize("kind,name,suffix,argv", H5_READERS, ids=[r[0] for r in H5_READERS])
@HYP
@given(pick=st.integers(0, 10**6), value=st.integers(0, 10**6))
def test_random_corruption_of_valid_files_is_refused_or_harmless(kind, name, suffix, argv, pick, value, good,
                                                                  tmp_path_factory, capsys):
    tmp = tmp_path_factory.mktemp(kind)
    f = tmp / f"in{suffix}"
    shutil.copy(good / name, f)
    nodes = _h5_nodes(f)
    node = nodes[pick % len(nodes)]
    values = ATTR_VALUES if node[0] == "attr" else DATASET_VALUES
    _corrupt(f, node, values[value % len(values)])
    _check_reader(kind, argv, f, good, tmp, capsys, expect_refusal=False)


# Structural corruptions that must be refused (not merely survived), one list per file kind.
MUST_REFUSE = [
    ("qubo-compiled", "q.h5", ("attr", "qubo/offset"), None, "offset"),
    ("qubo-compiled", "q.h5", ("attr", "/format_version"), "one", "format_version"),
    ("qubo-compiled", "q.h5", ("attr", "/topology"), "{not json", "q.h5"),
    ("qubo-compiled", "q.h5", ("attr", "varmap/kinds"), "[weight", "kinds"),
    ("qubo-compiled", "q.h5", ("dataset", "qubo/linear"), "group", "linear"),
    ("qubo-compiled", "q.h5", ("dataset", "qubo/values"), np.array([b"a", b"b"]), "values"),
    ("qubo-solve", "q.h5", ("dataset", "qubo/values"), "group", "values"),
    ("dataset-evaluate", "data.h5", ("attr", "/format"), np.array([1, 2]), "in_data.h5"),
    ("network", "net.h5", ("attr", "/topology"), "not json", "topology"),
    ("network", "net.h5", ("attr", "/format_version"), "x", "format_version"),
    ("network", "net.h5", ("dataset", "weights"), "group", "weights"),
    ("network", "net.h5", ("dataset", "weights"), np.array([b"a"]), "weights"),
    ("solution", "sol.h5", ("dataset", "best_x"), "group", "best_x"),
    ("solution", "sol.h5", ("dataset", "best_x"), np.array([b"1", b"0"]), "best_x"),
    ("solution", "sol.h5", ("dataset", "best_x"), np.ones(3), "bits"),
    ("dataset", "data.h5", ("attr", "/classes"), "[3,", "classes"),
    ("dataset", "data.h5", ("attr", "/image_shape"), '["a", "b"]', "image_shape"),
    ("dataset", "data.h5", ("dataset", "train/X"), "group", "train/X"),
    ("penalties", "pen.h5", ("dataset", "h"), np.array([b"1.0"] * 37), "pen"),
    ("penalties-previous", "pen.h5", ("dataset", "h"), np.array([b"1.0"] * 37), "h"),
    ("penalties-previous", "pen.h5", ("dataset", "h"), "group", "h"),
    ("subnetwork", "sub0.h5", ("attr", "/k"), "zero", "k"),
    ("subnetwork", "sub0.h5", ("dataset", "map"), np.array([b"x"]), "map"),
    ("network", "net.h5", ("attr", "/identity"), "[1]", "identity"),
    ("network-figures", "net.h5", ("attr", "/identity"), "{not json", "identity"),
    ("solution-figures", "sol.h5", ("attr", "/identity"), '{"seed": "x"}', "seed"),
]


@pytest.mark.parametrize("kind,name,node,value,culprit", MUST_REFUSE,
                         ids=[f"{m[0]}-{m[2][1]}-{i}" for i, m in enumerate(MUST_REFUSE)])
def test_malformed_parts_are_refused_naming_the_file(kind, name, node, value, culprit, good, tmp_path, capsys):
    argv = next(r[3] for r in READERS if r[0] == kind)
    f = tmp_path / f"in_{name}"
    shutil.copy(good / name, f)
    _corrupt(f, node, value)
    before = _digest(f)
    rc, _, err = _run(_reader_argv(argv, f, good, tmp_path / "out.bin"), capsys)
    _assert_refused(rc, err, culprit=culprit)
    assert _digest(f) == before and not (tmp_path / "out.bin").exists()


# ----------------------------------------------------------------------------- topologies
yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 40) | st.floats(allow_nan=True) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12)
topology_specs = st.fixed_dictionaries({}, optional={
    "layers": yaml_values | st.lists(st.integers(-2, 20), max_size=4), "bias": yaml_values,
    "inputs": yaml_values | st.just(16), "neurons": yaml_values, "outputs": yaml_values, "head": yaml_values,
    "receptive_field": yaml_values | st.fixed_dictionaries({}, optional={
        "image": yaml_values | st.just([4, 4]), "patch": yaml_values | st.just(2), "stride": yaml_values,
        "channels": yaml_values})})


@HYP
@given(spec=topology_specs)
def test_random_topology_specs_are_refused_or_built(spec, good, tmp_path_factory, capsys):
    import yaml

    tmp = tmp_path_factory.mktemp("topo")
    f = tmp / "net.yaml"
    f.write_text(yaml.safe_dump(spec, allow_unicode=True))
    _check_reader("topology", READERS[11][3], f, good, tmp, capsys, expect_refusal=False)


@pytest.mark.parametrize("text,culprit", [
    ("inputs: 16\nneurons:\n  ñeuron: {from: [x0]}\n", "ñeuron"),
    ("inputs: 16\nneurons:\n  'a b': {from: [x0]}\n", "a b"),
    ("inputs: 16\nneurons:\n  bias: {from: [x0]}\n", "bias"),
    ("inputs: 16\nneurons:\n  1st: {from: [x0]}\n", "1st"),
    ("receptive_field: {image: [4, 4], patch: two}\n", "patch"),
    ("receptive_field: {image: [4], patch: 2}\n", "image"),
    ("receptive_field: {image: [4, 4], patch: [2, 2, 2]}\n", "patch"),
    ("receptive_field: {image: [4, 4], patch: 2, stride: 0}\n", "stride"),
    ("receptive_field: {image: [4, 4], patch: 2, colour: 1}\n", "colour"),
    ("inputs: 16\nneurons:\n  out: {from: x0}\n", "from"),
    ("inputs: 16\nneurons: [a, b]\n", "neurons"),
    ("layers: [16, 100000000000000000000000, 1]\n", "MiB"),
], ids=["non-ascii", "space", "bias-name", "digit-first", "patch-text", "image-scalar", "patch-3", "stride-0",
        "rf-unknown-key", "from-scalar", "neurons-list", "huge-width"])
def test_malformed_topologies_are_refused(text, culprit, good, tmp_path, capsys):
    f = tmp_path / "net.yaml"
    f.write_text(text, encoding="utf-8")
    rc, _, err = _run(["compile", "--data", good / "data.h5", "--network", f, "--out", tmp_path / "o.h5"], capsys)
    _assert_refused(rc, err, culprit=culprit)


# ------------------------------------------------------------------------------- help
@pytest.mark.parametrize("argv", [["--help"], *[[c, "--help"] for c in COMMANDS]], ids=lambda a: " ".join(a))
def test_help_of_every_command(argv, capsys):
    rc, out, err = _run(argv, capsys)
    assert rc == 0 and "usage: qbnn" in out and not err


def test_bare_qbnn_and_help_in_a_subprocess():
    bare = subprocess.run([QBNN], capture_output=True, text=True, timeout=120)
    assert bare.returncode == 2 and "COMMAND" in bare.stdout and "Traceback" not in bare.stderr
    full = subprocess.run([QBNN, "--help"], capture_output=True, text=True, timeout=120)
    assert full.returncode == 0 and all(c in full.stdout for c in COMMANDS)
