"""Hardening (issue 14), output side and numbers: outputs never replace inputs or devices, several
outputs are all-or-none, files honour the umask and stale temporaries are cleaned, numbers are
validated alike by every command, JSON is strict, the memory guard sees process and cgroup limits,
mismatched inputs are refused, and the defaults do not lead into constant predictors."""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qbnn.cli import main
from valid_files import FAST_SOLVE, build_valid_files



def _digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _run(argv, capsys):
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _refused(rc, err, culprit=None):
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("qbnn: error:"), err
    assert "unexpected" not in lines[0], lines[0]
    if culprit is not None:
        assert str(culprit) in lines[0], lines[0]


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return build_valid_files(tmp_path_factory.mktemp("good"))


# ------------------------------------------------------------------ kind 2: outputs vs inputs and devices
CLOBBER = [  # (command argv with {g}; the input that --out/-like option is pointed at)
    (["compile", "--data", "{g}/data.h5", "--network", "{g}/net.yaml", "--out", "{x}"], "data.h5"),
    (["compile", "--data", "{g}/data.h5", "--network", "{g}/net.yaml", "--out", "{x}"], "net.yaml"),
    (["solve", "{g}/q.h5", *FAST_SOLVE, "--out", "{x}"], "q.h5"),
    (["decode", "{g}/q.h5", "--sample", "{g}/sol.h5", "--out", "{x}"], "sol.h5"),
    (["evaluate", "{g}/net.h5", "--data", "{g}/data.h5", "--out", "{x}"], "net.h5"),
    (["export-qubo", "{g}/q.h5", "--format", "coo", "--out", "{x}"], "q.h5"),
    (["export-network", "{g}/net.h5", "--format", "npz", "--out", "{x}"], "net.h5"),
    (["baseline", "--data", "{g}/data.h5", "--network", "{g}/net.yaml", "--method", "greedy", "--out", "{g}/b.json",
      "--net-out", "{x}"], "data.h5"),
    (["aggregate", "{g}/m.json", "--out", "{x}"], "m.json"),
    (["binarise", "--source", "bars_and_stripes", "--size", "4", "--out", "{g}/x.h5", "--grid", "{x}"], "x.h5"),
]


@pytest.mark.parametrize("how", ["same", "symlink", "hardlink", "dotted"])
@pytest.mark.parametrize("argv,victim", CLOBBER, ids=[f"{a[0]}-{v}" for a, v in CLOBBER])
def test_output_equal_to_an_input_is_refused(argv, victim, how, good, tmp_path, capsys):
    g = tmp_path / "g"
    shutil.copytree(good, g)
    target = g / victim
    if argv[0] == "binarise":
        target.write_bytes(b"existing")  # binarise's own --out, also named as --grid
    if how == "same":
        x = target
    elif how == "dotted":
        x = g / "." / ".." / "g" / victim
    else:
        x = tmp_path / f"alias_{victim}"
        (os.symlink if how == "symlink" else os.link)(target, x)
    before = {p.name: _digest(p) for p in g.iterdir() if p.is_file()}
    rc, _, err = _run([a.format(g=g, x=x) for a in argv], capsys)
    _refused(rc, err)
    assert {p.name: _digest(p) for p in g.iterdir() if p.is_file()} == before


@pytest.mark.parametrize("where", ["directory", "device", "empty", "slash", "under-a-file"])
def test_outputs_that_are_not_regular_files_are_refused(where, good, tmp_path, capsys):
    out = {"directory": tmp_path, "device": Path("/dev/null"), "empty": "", "slash": f"{tmp_path}/sub/",
           "under-a-file": good / "net.yaml" / "o.json"}[where]
    rc, _, err = _run(["evaluate", good / "net.h5", "--data", good / "data.h5", "--out", out], capsys)
    _refused(rc, err)
    assert Path("/dev/null").is_char_device() and (good / "net.yaml").is_file()


def test_checkpoint_paths_are_checked_before_work(good, tmp_path, capsys):
    victim = tmp_path / "notes.txt"
    victim.write_text("precious")
    rc, _, err = _run(["solve", good / "q.h5", *FAST_SOLVE, "--checkpoint", victim, "--out", tmp_path / "s.h5"], capsys)
    _refused(rc, err, culprit="not a qbnn solver checkpoint")
    assert victim.read_text() == "precious" and not (tmp_path / "s.h5").exists()
    same = tmp_path / "x.h5"
    rc, _, err = _run(["solve", good / "q.h5", *FAST_SOLVE, "--checkpoint", same, "--out", same], capsys)
    _refused(rc, err, culprit="--checkpoint")
    rc, _, err = _run(["solve", good / "q.h5", *FAST_SOLVE, "--checkpoint", good / "q.h5", "--out", same], capsys)
    _refused(rc, err)
    # a real checkpoint is accepted (and removed after success)
    ck = tmp_path / "run.ckpt"
    assert main(["solve", str(good / "q.h5"), *FAST_SOLVE, "--checkpoint", str(ck), "--checkpoint-every", "5",
                 "--keep-checkpoint", "--out", str(tmp_path / "a.h5")]) == 0
    assert ck.is_file()
    assert main(["solve", str(good / "q.h5"), *FAST_SOLVE, "--checkpoint", str(ck), "--out", str(tmp_path / "b.h5")]) == 0
    assert not ck.exists() and (tmp_path / "b.h5").is_file()


# ------------------------------------------------------------------ kind 6: several outputs, all or none
@pytest.mark.parametrize("argv,outs,breaker", [
    (["binarise", "--source", "bars_and_stripes", "--size", "4", "--out", "{t}/d.h5", "--grid", "{t}/g.png"],
     ["d.h5", "g.png"], "qbnn.figures.samples.plot_sample_grid"),
    (["baseline", "--data", "{g}/data.h5", "--network", "{g}/net.yaml", "--method", "greedy", "--restarts", "1",
      "--net-out", "{t}/n.h5", "--out", "{t}/b.json"], ["n.h5", "b.json"], "qbnn.io.write_json"),
    (["aggregate", "{g}/m.json", "--out", "{t}/a.csv", "--summary", "{t}/s.csv", "--figure", "{t}/f.png",
      "--margin-figure", "{t}/mf.png"], ["a.csv", "s.csv", "f.png", "mf.png"], "qbnn.figures.accuracy.plot_margin"),
], ids=["binarise-grid", "baseline-net", "aggregate-figures"])
def test_multi_file_commands_leave_all_or_none(argv, outs, breaker, good, tmp_path, capsys, monkeypatch):
    import importlib

    mod_name, _, fn = breaker.rpartition(".")
    mod = importlib.import_module(mod_name)
    real = getattr(mod, fn)

    def fail_after_writing(*a, **kw):  # the last file fails after the others were written
        real(*a, **kw)
        raise OSError(28, "No space left on device", str(tmp_path / outs[-1]))

    monkeypatch.setattr(mod, fn, fail_after_writing)
    if mod_name == "qbnn.io":  # baseline imports write_json by name at run time
        monkeypatch.setattr("qbnn.io.write_json", fail_after_writing)
    rc, _, err = _run([a.format(g=good, t=tmp_path) for a in argv], capsys)
    _refused(rc, err, culprit="No space left")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    monkeypatch.undo()
    assert main([a.format(g=good, t=tmp_path) for a in argv]) == 0
    assert all((tmp_path / o).is_file() for o in outs)


def test_output_transaction_commits_together_and_reads_staged_files(tmp_path):
    from qbnn.io import atomic_output, current_path, output_transaction, require_file

    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    with pytest.raises(RuntimeError):
        with output_transaction([a, b]):
            with atomic_output(a) as t:
                t.write_text("A")
            assert not a.exists() and require_file(a).read_text() == "A"  # readable while staged
            raise RuntimeError
    assert list(tmp_path.iterdir()) == []
    with output_transaction([a, b]):
        for p in (a, b):
            with atomic_output(p) as t:
                t.write_text(p.name)
        assert current_path(b) != b
    assert a.read_text() == "a.txt" and b.read_text() == "b.txt"


# ------------------------------------------------------------------ kind 11: modes, temporaries, C headers, labels
@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_outputs_honour_the_umask(umask, mode, good, tmp_path):
    old = os.umask(umask)
    try:
        assert main(["evaluate", str(good / "net.h5"), "--data", str(good / "data.h5"), "--out", str(tmp_path / "m.json")]) == 0
        assert main(["export-network", str(good / "net.h5"), "--format", "npz", "--out", str(tmp_path / "n.npz")]) == 0
    finally:
        os.umask(old)
    for p in tmp_path.iterdir():
        assert p.stat().st_mode & 0o777 == mode, (p, oct(p.stat().st_mode))


def test_stale_temporaries_of_dead_writers_are_removed(good, tmp_path):
    from qbnn.io import TMP_TAG, _host

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".m.json{TMP_TAG}{dead.pid}-{_host()}.abc.tmp"
    live = tmp_path / f".m.json{TMP_TAG}{os.getpid()}-{_host()}.def.tmp"
    other_host = tmp_path / f".m.json{TMP_TAG}{dead.pid}-elsewhere.ghi.tmp"
    for p in (stale, live, other_host):
        p.write_text("partial")
    assert main(["evaluate", str(good / "net.h5"), "--data", str(good / "data.h5"), "--out", str(tmp_path / "m.json")]) == 0
    assert not stale.exists() and live.exists() and other_host.exists()
    os.utime(other_host, (0, 0))  # older than a week: another host's leftover goes too
    assert main(["evaluate", str(good / "net.h5"), "--data", str(good / "data.h5"), "--out", str(tmp_path / "m.json")]) == 0
    assert not other_host.exists()


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not found")
def test_two_exported_networks_can_be_included_together(good, tmp_path):
    from qbnn.export import c_header
    from qbnn.topology import Network

    net = Network.load(good / "net.h5")
    other = Network(net.topology, -net.weights)
    assert main(["export-network", str(good / "net.h5"), "--format", "c-header", "--prefix", "net_a",
                 "--out", str(tmp_path / "a.h")]) == 0
    (tmp_path / "b.h").write_text(c_header(other, "net_b"))
    guards = [next(l for l in (tmp_path / f).read_text().splitlines() if l.startswith("#ifndef")) for f in ("a.h", "b.h")]
    assert guards[0] != guards[1]
    assert c_header(net).splitlines()[5] != c_header(other).splitlines()[5]  # default prefix: guards differ too
    x = ", ".join(["1"] * net.topology.n_inputs)
    (tmp_path / "main.c").write_text(
        f'#include "a.h"\n#include "b.h"\n#include "a.h"\n#include <stdio.h>\n'
        f"int main(void) {{ const int8_t x[] = {{{x}}}; printf(\"%d %d\\n\", net_a_predict(x), net_b_predict(x)); return 0; }}\n")
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Werror", "-o", str(tmp_path / "m"), str(tmp_path / "main.c")],
                   check=True, capture_output=True)
    got = subprocess.run([str(tmp_path / "m")], capture_output=True, text=True, check=True).stdout.split()
    X = np.ones((1, net.topology.n_inputs), dtype=np.int8)
    assert [int(v) for v in got] == [int(net.predict(X)[0]), int(other.predict(X)[0])]


@pytest.mark.parametrize("label", ["train_accuracy=1.0", "test_errors=0", "margin_mean=9", "constant_predictor=0"])
def test_labels_cannot_replace_measured_values(label, good, tmp_path, capsys):
    rc, _, err = _run(["evaluate", good / "net.h5", "--data", good / "data.h5", "--label", label,
                       "--out", tmp_path / "m.json"], capsys)
    _refused(rc, err, culprit=label.partition("=")[0])
    assert not (tmp_path / "m.json").exists()
    assert main(["evaluate", str(good / "net.h5"), "--data", str(good / "data.h5"), "--identity", "method=x",
                 "--label", "note=nan", "--out", str(tmp_path / "m.json")]) == 0
    rec = json.loads((tmp_path / "m.json").read_text())
    assert rec["method"] == "x" and rec["note"] == "nan"


# ------------------------------------------------------------------ kind 9: one set of number validators
NUMBERS = [  # (argv prefix with {g}/{t}, option, bad values)
    (["solve", "{g}/q.h5", "--out", "{t}/o.h5"], "--time-limit", ["nan", "inf", "-1", "0"]),
    (["solve", "{g}/q.h5", "--out", "{t}/o.h5"], "--target", ["nan", "inf"]),
    (["solve", "{g}/q.h5", "--out", "{t}/o.h5"], "--seed", ["-1", str(2**64), "1e3"]),
    (["solve", "{g}/q.h5", "--out", "{t}/o.h5"], "--steps", ["0", "-5", "nan"]),
    (["maxcut", "{g}/net.yaml"], "--time-limit", ["nan", "-1"]),
    (["maxcut", "{g}/net.yaml"], "--seed", [str(2**40)]),
    (["compile", "--data", "{g}/data.h5", "--network", "{g}/net.yaml", "--out", "{t}/o.h5"], "--margin", ["nan", "-0.1", "inf"]),
    (["compile", "--data", "{g}/data.h5", "--network", "{g}/net.yaml", "--out", "{t}/o.h5"], "--penalty", ["nan", "0"]),
    (["baseline", "--data", "{g}/data.h5", "--network", "{g}/net.yaml", "--method", "ste", "--out", "{t}/o.json"],
     "--lr", ["nan", "0", "-1"]),
    (["baseline", "--data", "{g}/data.h5", "--network", "{g}/net.yaml", "--method", "greedy", "--out", "{t}/o.json"],
     "--time-limit", ["-1", "nan"]),
    (["train-mip", "--dataset", "planted", "--out", "{t}/o.h5"], "--robust", ["nan", "-1"]),
    (["train-mip", "--dataset", "planted", "--out", "{t}/o.h5"], "--mip-gap", ["nan", "-0.5"]),
    (["train-mip", "--dataset", "planted", "--out", "{t}/o.h5"], "--time-limit", ["inf", "-1", "0"]),
    (["train-mip", "--dataset", "planted", "--out", "{t}/o.h5"], "--seed", [str(2**33)]),
    (["dropout-penalties", "--data", "{g}/data.h5", "--network", "{g}/net.yaml", "--out", "{t}/o.h5"],
     "--beta", ["nan", "-1"]),
    (["dropout-penalties", "--data", "{g}/data.h5", "--network", "{g}/net.yaml", "--out", "{t}/o.h5"],
     "--p", ["nan", "1.5"]),
    (["dropout-subnetwork", "--data", "{g}/data.h5", "--network", "{g}/net.yaml", "--k", "0", "--out", "{t}/o.h5"],
     "--time-limit", ["-1", "inf"]),
    (["binarise", "--source", "bars_and_stripes", "--out", "{t}/o.h5"], "--noise", ["nan", "2"]),
    (["binarise", "--source", "bars_and_stripes", "--out", "{t}/o.h5"], "--seed", ["-3"]),
]
NUMBER_CASES = [(argv, opt, v) for argv, opt, vals in NUMBERS for v in vals]


@pytest.mark.parametrize("argv,option,value", NUMBER_CASES, ids=[f"{a[0]}{o}={v}" for a, o, v in NUMBER_CASES])
def test_bad_numbers_are_refused_alike(argv, option, value, good, tmp_path, capsys):
    rc, _, err = _run([a.format(g=good, t=tmp_path) for a in argv] + [f"{option}={value}"], capsys)
    _refused(rc, err, culprit=option)
    assert not list(tmp_path.iterdir())


@settings(max_examples=60, deadline=None)
@given(st.recursive(st.floats() | st.integers() | st.text(max_size=3) | st.none() | st.booleans(),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                    max_leaves=10))
def test_json_output_is_always_strict(obj):
    from qbnn.io import dumps

    text = dumps({"v": obj, "a": np.array([math.nan, 1.0]), "f": np.float32("inf")})
    back = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert back["a"] == [None, 1.0] and back["f"] is None


# ------------------------------------------------------------------ kind 8: mismatched inputs
def test_subnetworks_of_another_round_setting_are_refused(good, tmp_path, capsys):
    from qbnn.dropout_files import Penalties

    Penalties(np.zeros(37)).save(tmp_path / "prev.h5")
    Penalties(np.ones(37)).save(tmp_path / "prev2.h5")
    (tmp_path / "other.yaml").write_text("inputs: 16\nneurons:\n  a: {from: [x0, x1], bias: true}\n"
                                         "  b: {from: [x2, x3], bias: true}\n  out: {from: [a, b, x4], bias: true}\n")
    base = ["--data", good / "data.h5", "--solver", "greedy", "--time-limit", "none"]
    sub = tmp_path / "sub.h5"
    assert main([str(a) for a in ["dropout-subnetwork", *base, "--network", good / "net.yaml", "--k", "0",
                                  "--previous", tmp_path / "prev.h5", "--out", sub]]) == 0
    comb = ["dropout-penalties", *base, "--subnetworks", sub, "--out", tmp_path / "pen.h5"]
    ok = [*comb, "--network", good / "net.yaml", "--previous", tmp_path / "prev.h5"]
    for extra, culprit in [(["--p", "0.3"], "p"), (["--unit", "edge"], "unit"), (["--margin", "0.1"], "margin"),
                           (["--seed", "5"], "seed")]:
        rc, _, err = _run(ok + extra, capsys)
        _refused(rc, err, culprit=culprit)
    rc, _, err = _run([*comb, "--network", good / "net.yaml", "--previous", tmp_path / "prev2.h5"], capsys)
    _refused(rc, err, culprit="previous_hash")
    rc, _, err = _run([*comb, "--network", tmp_path / "other.yaml", "--previous", tmp_path / "prev.h5"], capsys)
    _refused(rc, err)
    assert not (tmp_path / "pen.h5").exists()
    assert _run(ok, capsys)[0] == 0


def test_train_mip_does_not_reread_a_rejected_dataset(good, tmp_path, capsys):
    import h5py

    bad = tmp_path / "bad.h5"
    shutil.copy(good / "data.h5", bad)
    with h5py.File(bad, "a") as f:
        f.attrs["classes"] = "[3"  # the dataset validator rejects it; plain groups would still read
    rc, _, err = _run(["train-mip", "--data", bad, "--out", tmp_path / "o.h5"], capsys)
    _refused(rc, err, culprit="classes")
    (tmp_path / "layers.yaml").write_text("layers: [16, two, 1]\n")
    rc, _, err = _run(["train-mip", "--data", good / "data.h5", "--network", tmp_path / "layers.yaml",
                       "--out", tmp_path / "o.h5"], capsys)
    _refused(rc, err, culprit="layers")
