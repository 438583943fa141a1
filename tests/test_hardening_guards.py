"""Hardening (issue 14): memory guard gaps (kind 10), defaults and constant predictors (kind 12),
and the last-resort error handler (kind 4)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qbnn.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _run(argv, capsys):
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _one_line(rc, err, culprit):
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("qbnn: error:") and culprit in lines[0], err


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    d = tmp_path_factory.mktemp("good")
    assert main(["binarise", "--source", "bars_and_stripes", "--size", "4", "--train-size", "16", "--test-size", "12",
                 "--seed", "0", "--out", str(d / "data.h5")]) == 0
    (d / "net.yaml").write_text("layers: [16, 2, 1]\nbias: true\n")
    assert main(["compile", "--data", str(d / "data.h5"), "--network", str(d / "net.yaml"), "--out", str(d / "q.h5")]) == 0
    return d


# ------------------------------------------------------------------ kind 10: memory guard
@pytest.mark.parametrize("spec", [
    "layers: [16, 100000000000000000000000, 1]\n",
    "receptive_field: {image: [100000000, 100000000], patch: 3}\n",
    "inputs: 100000000000000000000\nneurons:\n  out: {from: [x0]}\n",
], ids=["layer-width", "receptive-field", "explicit-inputs"])
def test_huge_topologies_are_refused_before_they_are_built(spec, good, tmp_path, capsys):
    (tmp_path / "net.yaml").write_text(spec)
    rc, _, err = _run(["compile", "--data", good / "data.h5", "--network", tmp_path / "net.yaml",
                       "--out", tmp_path / "o.h5"], capsys)
    _one_line(rc, err, "building the topology")


def test_steps_count_towards_the_solve_estimate(good, tmp_path, capsys, monkeypatch):
    from qbnn.storage_layout import BYTES_PER_STEP, solve_estimate

    a, b = solve_estimate(100, 300, 4, steps=10), solve_estimate(100, 300, 4, steps=10 + 10**6)
    assert b["host_bytes"] - a["host_bytes"] == 10**6 * BYTES_PER_STEP
    monkeypatch.setenv("QBNN_MEMORY_LIMIT_MB", "200")
    rc, _, err = _run(["solve", good / "q.h5", "--solver", "sa", "--steps", str(10**12), "--out", tmp_path / "s.h5"], capsys)
    _one_line(rc, err, "MiB")
    assert not (tmp_path / "s.h5").exists()


def test_maxcut_is_guarded(tmp_path, capsys, monkeypatch):
    g = tmp_path / "g.txt"
    g.write_text("2000000 3\n1 2 1\n2 3 1\n3 1 1\n")
    monkeypatch.setenv("QBNN_MEMORY_LIMIT_MB", "50")
    rc, _, err = _run(["maxcut", g, "--replicas", "64"], capsys)
    _one_line(rc, err, "MaxCut")


def _fake_cgroup(tmp_path: Path, version: int, limit: str, usage: int) -> tuple[str, str]:
    root = tmp_path / "sys"
    if version == 2:
        proc = "0::/slurm/job_7/step_0\n"
        job = root / "slurm" / "job_7"
        files = ("memory.max", "memory.current")
    else:
        proc = "12:cpu:/\n4:memory:/slurm/job_7/step_0\n"
        job = root / "memory" / "slurm" / "job_7"
        files = ("memory.limit_in_bytes", "memory.usage_in_bytes")
    (job / "step_0").mkdir(parents=True)
    (job / files[0]).write_text(limit + "\n")
    (job / files[1]).write_text(f"{usage}\n")
    (job / "step_0" / files[0]).write_text("max\n" if version == 2 else "9223372036854771712\n")
    (tmp_path / "cgroup").write_text(proc)
    return str(tmp_path / "cgroup"), str(root)


@pytest.mark.parametrize("version", [1, 2])
def test_cgroup_limits_bind_along_the_path(version, tmp_path):
    from qbnn.memory import cgroup_room

    proc, root = _fake_cgroup(tmp_path, version, str(4 << 30), 1 << 30)
    assert cgroup_room(proc, root) == (3 << 30, "the cgroup memory limit")
    proc, root = _fake_cgroup(tmp_path / "none", version, "max" if version == 2 else str(2**63 - 4096), 5)
    assert cgroup_room(proc, root)[0] is None


def test_address_space_limit_is_seen_by_the_guard():
    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, resource.RLIM_INFINITY)); "
            "import os; os.environ.pop('QBNN_MEMORY_LIMIT_MB', None); "
            "from qbnn.memory import available_bytes, address_space_room; "
            "room = address_space_room()[0]; avail, src = available_bytes(); "
            "print(room <= 3 << 30, avail <= room, src)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    ok_room, ok_avail, *src = out.stdout.split()
    assert ok_room == "True" and ok_avail == "True", out.stdout
    assert "ulimit" in " ".join(src) or "cgroup" in " ".join(src), out.stdout


# ------------------------------------------------------------------ kind 12: defaults, constant predictors
def test_solve_defaults_to_the_bnn_strategy_on_compiled_qubos(good, tmp_path, capsys):
    from qbnn.qubo import QUBO

    rc, out, _ = _run(["solve", good / "q.h5", "--steps", "50", "--replicas", "4", "--out", tmp_path / "s.h5"], capsys)
    s = json.loads(out.strip().splitlines()[-1])
    assert rc == 0 and s["solver"] == "ste-pt" and s["constant_predictor"] is False
    plain = QUBO.from_coo(3, [1.0, -2.0, 0.5], [0, 1], [1, 2], [1.0, -1.0])
    plain.save(tmp_path / "plain.h5")
    rc, out, _ = _run(["solve", tmp_path / "plain.h5", "--steps", "50", "--replicas", "4",
                       "--out", tmp_path / "p.h5"], capsys)
    s = json.loads(out.strip().splitlines()[-1])
    # any other QUBO gets the generic solver fastest on the G-set benchmark, and it finds the brute-force minimum
    assert rc == 0 and s["solver"] == "sa"
    brute = min(plain.energy(np.array(x, dtype=np.float64)) for x in np.ndindex(2, 2, 2))
    assert s["best_energy"] == pytest.approx(brute)


def test_constant_predictors_are_flagged_in_every_json(good, tmp_path, capsys):
    from qbnn.compiler import load_compiled
    from qbnn.topology import Network

    cb = load_compiled(good / "q.h5")
    w = np.ones(cb.n_weights, dtype=np.int8)  # two identical hidden neurons, out = h0 - h1 + 1 = +1 always
    w[-3:] = [1, -1, 1]
    assert np.unique(cb.topology.predict(w, cb.X)).size == 1
    x = cb.repair(w)
    np.save(tmp_path / "x.npy", x.astype(np.int8))
    rc, out, _ = _run(["decode", good / "q.h5", "--sample", tmp_path / "x.npy", "--out", tmp_path / "n.h5"], capsys)
    assert rc == 0 and json.loads(out.strip().splitlines()[-1])["constant_predictor"] is True
    rc, out, _ = _run(["evaluate", tmp_path / "n.h5", "--data", good / "data.h5", "--out",
                       tmp_path / "r" / "d" / "t" / "const_s0.json",
                       "--identity", "experiment=e,dataset=d,topology=t,method=const,seed=0"], capsys)
    assert rc == 0 and json.loads(out.strip().splitlines()[-1])["constant_predictor"] is True
    trained = tmp_path / "trained.h5"
    assert main(["baseline", "--data", str(good / "data.h5"), "--network", str(good / "net.yaml"), "--method",
                 "greedy", "--restarts", "2", "--net-out", str(trained), "--out", str(tmp_path / "b.json")]) == 0
    assert json.loads((tmp_path / "b.json").read_text())["constant_predictor"] is False
    rc, out, _ = _run(["evaluate", trained, "--data", good / "data.h5", "--out",
                       tmp_path / "r" / "d" / "t" / "greedy_s0.json",
                       "--identity", "experiment=e,dataset=d,topology=t,method=greedy,seed=0"], capsys)
    assert json.loads(out.strip().splitlines()[-1])["constant_predictor"] is False
    rc, out, _ = _run(["aggregate", *sorted((tmp_path / "r" / "d" / "t").glob("*.json")), "--out", tmp_path / "a.csv",
                       "--summary", tmp_path / "s.csv"], capsys)
    assert rc == 0 and json.loads(out.strip().splitlines()[-1])["constant_predictor_runs"] == 1
    import pandas as pd

    summary = pd.read_csv(tmp_path / "s.csv")
    assert sorted(summary["constant_runs"]) == [0, 1] and len(summary) == 2


def test_readme_example_margin_is_not_the_collapsing_one():
    text = (ROOT / "README.md").read_text()
    line = next(l for l in text.splitlines() if l.startswith("qbnn compile ") and "--margin" in l)
    margin = float(line.split("--margin")[1].split()[0])
    assert 0 < margin <= 0.1  # docs/report.md: 0.02-0.1 train; README measured 0.5 -> constant predictor


# ------------------------------------------------------------------ last resort
def test_unexpected_errors_are_one_line_and_debug_shows_the_traceback(good, tmp_path, capsys, monkeypatch):
    import qbnn.cli.evaluate as ev

    def boom(args):
        raise ZeroDivisionError("deep inside")

    monkeypatch.setattr(ev, "run", boom)
    argv = ["evaluate", str(good / "q.h5"), "--data", str(good / "data.h5")]
    rc, _, err = _run(argv, capsys)
    _one_line(rc, err, "ZeroDivisionError")
    with pytest.raises(ZeroDivisionError):
        main(argv + ["--debug"])
