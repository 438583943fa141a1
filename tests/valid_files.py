"""One small valid instance of each file kind, shared by the hardening tests (their inputs to corrupt)."""
from __future__ import annotations

from pathlib import Path

from qbnn.cli import main

FAST_SOLVE = ["--solver", "sb", "--steps", "20", "--replicas", "2"]


def build_valid_files(d: Path) -> Path:
    """Dataset, topology, QUBO, solution, network and metrics of a 4x4 bars-and-stripes task in ``d``."""
    ok = lambda argv: main([str(a) for a in argv]) == 0  # noqa: E731
    assert ok(["binarise", "--source", "bars_and_stripes", "--size", "4", "--train-size", "16", "--test-size", "12",
               "--seed", "0", "--out", d / "data.h5"])
    (d / "net.yaml").write_text("layers: [16, 2, 1]\nbias: true\n")
    assert ok(["compile", "--data", d / "data.h5", "--network", d / "net.yaml", "--out", d / "q.h5"])
    assert ok(["solve", d / "q.h5", *FAST_SOLVE, "--out", d / "sol.h5"])
    assert ok(["decode", d / "q.h5", "--sample", d / "sol.h5", "--out", d / "net.h5"])
    assert ok(["evaluate", d / "net.h5", "--data", d / "data.h5", "--out", d / "m.json",
               "--identity", "experiment=e,dataset=bas4,topology=net,method=qubo_sb,seed=0"])
    return d
