"""Memory guard: size estimates against measured peaks; refusal with a clear message, no output."""
import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from qbnn import memory
from qbnn.compiler import compile_bnn, compile_estimate
from qbnn.errors import QbnnError
from qbnn.storage_layout import guard_solve
from qbnn.topology import Topology

BIN = Path(sys.executable).parent


def _data(path: Path, S: int, d: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        f["train/X"] = np.where(rng.random((S, d)) < 0.5, 1, -1).astype(np.int8)
        f["train/y"] = np.where(rng.random(S) < 0.5, 1, -1).astype(np.int8)
    return path


def _topo(path: Path, layers) -> Path:
    path.write_text(f"layers: {list(layers)}\nbias: true\n")
    return path


def _qbnn(*args, env_extra=None):
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env_extra or {}))
    return subprocess.run([str(BIN / "qbnn"), *args], env=env, capture_output=True, text=True)


def test_available_bytes_sources(monkeypatch):
    monkeypatch.setenv("QBNN_MEMORY_LIMIT_MB", "12.5")
    assert memory.available_bytes() == (int(12.5 * memory.MiB), "QBNN_MEMORY_LIMIT_MB")
    monkeypatch.setenv("QBNN_MEMORY_LIMIT_MB", "lots")
    with pytest.raises(QbnnError, match="QBNN_MEMORY_LIMIT_MB"):
        memory.available_bytes()
    monkeypatch.delenv("QBNN_MEMORY_LIMIT_MB")
    avail, source = memory.available_bytes()
    meminfo = {ln.split(":")[0]: int(ln.split()[1]) * 1024 for ln in open("/proc/meminfo")}
    assert source in ("available memory", "MemAvailable")
    assert 0.5 * meminfo["MemAvailable"] < avail < 2 * meminfo["MemAvailable"] + memory.MiB


def test_check_fits_message_and_switch(monkeypatch):
    monkeypatch.setenv("QBNN_MEMORY_LIMIT_MB", "100")
    memory.check_fits(99 * memory.MiB, "x")
    with pytest.raises(QbnnError) as exc:
        memory.check_fits(3000 * memory.MiB, "building thing")
    msg = str(exc.value)
    assert "\n" not in msg and "building thing" in msg and "3,000 MiB" in msg and "100 MiB" in msg
    monkeypatch.setenv("QBNN_MEMORY_GUARD", "0")
    memory.check_fits(3000 * memory.MiB, "building thing")


def test_compile_estimate_counts_match_the_compiler():
    rng = np.random.default_rng(1)
    for layers, S, margin in (([16, 2, 1], 16, 0.0), ([12, 4, 3], 30, 0.5), ([9, 5, 2, 1], 25, 1.0)):
        topo = Topology.layered(layers)
        X = np.where(rng.random((S, layers[0])) < 0.5, 1, -1).astype(np.int8)
        y = rng.integers(0, layers[-1], S) if layers[-1] > 1 else np.where(rng.random(S) < 0.5, 1, -1)
        cb = compile_bnn(topo, X, y, margin=margin)
        est = compile_estimate(topo, S, margin)
        assert est["variables"] == cb.qubo.num_variables
        # raw terms before merging duplicates: an upper bound, and a tight one
        assert cb.qubo.num_interactions <= est["nonzeros"] <= 1.1 * cb.qubo.num_interactions + 10


_MEASURE = r"""
import json, os, resource, sys, tracemalloc
import numpy as np, torch, h5py
from qbnn.cli import main
from qbnn.compiler import compile_bnn, save_compiled
from qbnn.data import load_dataset
from qbnn.storage_layout import guard_solve
from qbnn.topology import Topology
from qbnn.solvers import IsingProblem
def rss(): return int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
def peak(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
mode, args = sys.argv[1], sys.argv[2:]
if mode == "compile":
    # the compile is numpy only, whose allocations tracemalloc traces: its peak is what the work allocates,
    # whatever the machine's state (peak RSS of the same compile read 316 MiB alone and 553-559 MiB in
    # full-suite CI runs, twice in a row)
    X, y = load_dataset(args[0])[:2]; topo = Topology.load(args[1], n_inputs=X.shape[1])
    tracemalloc.start(); save_compiled(compile_bnn(topo, X, y, margin=0.5), args[2])
    print(json.dumps({"peak": tracemalloc.get_traced_memory()[1]}))
else:
    base = rss(); main(["solve", *args])  # torch's allocations are not traced: peak RSS growth
    print(json.dumps({"peak": peak() - base}))
"""


def _measure(*args, repeats: int = 2) -> int:
    """Least peak (traced bytes for a compile, RSS growth for a solve) over ``repeats`` fresh processes (an outlier run was seen to peak ~75 % higher:
    557 vs 316 MiB for the same compile in a CI run)."""
    env = dict(os.environ, QBNN_MEMORY_GUARD="0")
    peaks = []
    for _ in range(repeats):
        res = subprocess.run([sys.executable, "-c", _MEASURE, *args], env=env, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr[-3000:]
        peaks.append(json.loads(res.stdout.strip().splitlines()[-1])["peak"])
    return min(peaks)


@pytest.mark.slow
def test_estimates_track_measured_peak_memory(tmp_path):
    """Peak RSS growth of a real ~300 MB compile and ~500 MB solves vs the estimates."""
    data, net = _data(tmp_path / "d.h5", 500, 64), _topo(tmp_path / "t.yaml", [64, 16, 1])
    q = tmp_path / "q.h5"
    measured = _measure("compile", str(data), str(net), str(q))
    est = compile_estimate(Topology.load(net, n_inputs=64), 500, 0.5)["bytes"]
    rows = [("compile", est, measured)]
    for solver in ("sb", "sa"):
        measured = _measure("solve", str(q), "--solver", solver, "--replicas", "16", "--steps", "3", "--device", "cpu",
                            "--no-polish", "--out", str(tmp_path / f"{solver}.h5"))
        est = guard_solve(q, 16, solver, "cpu")["host_bytes"]
        rows.append((f"solve {solver}", est, measured))
    print("\n" + "\n".join(f"{w:10s} estimate {e / 2**20:7.0f} MiB  measured {m / 2**20:7.0f} MiB  ratio {e / m:.2f}"
                           for w, e, m in rows))
    for what, est, meas in rows:
        assert meas > 100 * memory.MiB, what  # big enough that interpreter noise does not matter
        assert 0.6 < est / meas < 1.6, (what, est, meas)


def test_cli_refuses_when_memory_is_short(tmp_path):
    data, net = _data(tmp_path / "d.h5", 40, 16), _topo(tmp_path / "t.yaml", [16, 4, 1])
    q, out = tmp_path / "q.h5", tmp_path / "sol.h5"
    ok = _qbnn("compile", "--data", str(data), "--network", str(net), "--out", str(q))
    assert ok.returncode == 0, ok.stderr
    tiny = {"QBNN_MEMORY_LIMIT_MB": "0.01"}
    bad = _qbnn("compile", "--data", str(data), "--network", str(net), "--out", str(tmp_path / "q2.h5"),
                env_extra=tiny)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    line = bad.stderr.strip().splitlines()[-1]
    assert "compiling 40 samples" in line and "MiB (estimate)" in line and "QBNN_MEMORY_LIMIT_MB" in line
    assert not (tmp_path / "q2.h5").exists() and not list(tmp_path.glob(".q2.h5*"))
    bad = _qbnn("solve", str(q), "--solver", "sa", "--out", str(out), env_extra=tiny)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    line = bad.stderr.strip().splitlines()[-1]
    assert "solving" in line and "replicas" in line and "MiB (estimate)" in line and "0 MiB are available" in line
    assert not out.exists() and not list(tmp_path.glob(".sol.h5*"))
    # the same solve fits in 1 GiB
    good = _qbnn("solve", str(q), "--solver", "sa", "--steps", "20", "--out", str(out),
                 env_extra={"QBNN_MEMORY_LIMIT_MB": "1024"})
    assert good.returncode == 0, good.stderr
    assert out.is_file()
