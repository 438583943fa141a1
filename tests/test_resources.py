"""workflow/rules/resources.smk: a job's mem_mb is qbnn's own estimate of what the job runs. A dropout subnetwork
is sized from the experiment's `dropout` solver settings (solver, replicas, steps), not from another solver's."""
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from qbnn import solver_registry
from qbnn.compiler import compile_estimate
from qbnn.qubo import QUBO_BYTES_PER_NNZ, QUBO_BYTES_PER_VAR
from qbnn.storage_layout import solve_estimate
from qbnn.topology import Topology

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

#: resources.smk BASE_MB["torch"]: the interpreter and imports of a solving job
TORCH_MB = 768


def _dry_run_resources(wd: Path, config: str) -> dict[tuple[str, str], dict]:
    """(rule, wildcards) -> resources of every job of a dry run."""
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    res = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-F", "--configfile", config], cwd=wd, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:] + res.stdout[-3000:]
    jobs, rule, wildcards = {}, None, ""
    for line in res.stdout.splitlines():
        s = line.strip()
        if s.startswith(("rule ", "localrule ")) and s.endswith(":"):
            rule, wildcards = s.split()[1][:-1], ""
        elif s.startswith("wildcards:"):
            wildcards = s[len("wildcards:"):].strip()
        elif s.startswith("resources:") and rule is not None:
            jobs[(rule, wildcards)] = dict(kv.strip().split("=", 1) for kv in s[len("resources:"):].split(", "))
    return jobs


def _expected_mb(cfg: dict, exp: str, solver: str, replicas: int, steps: int, compiles: bool = True) -> int:
    """resources.smk's figure, from qbnn directly: interpreter + the solve of the full training QUBO (at least
    its compile, for a job that ``compiles`` first)."""
    e = cfg["experiments"][exp]
    topo = Topology.load(str(ROOT / cfg["topologies"][e["topology"]]))
    est = compile_estimate(topo, cfg["datasets"][e["dataset"]]["train_size"], 0.0)
    n, nnz = est["variables"], est["nonzeros"]
    solve = (solve_estimate(n, nnz, replicas, solver, "cpu", steps=steps)["host_bytes"]
             + nnz * QUBO_BYTES_PER_NNZ + n * QUBO_BYTES_PER_VAR)
    return math.ceil(TORCH_MB + (max(est["bytes"], solve) if compiles else solve) / 2**20)


def test_dropout_subnetworks_are_sized_from_the_dropout_solver_settings(tmp_path):
    for item in ("Snakefile", "workflow", "config", "envs"):
        (shutil.copytree if (ROOT / item).is_dir() else shutil.copy)(ROOT / item, tmp_path / item)
    cfg = yaml.safe_load((ROOT / "config/test.yaml").read_text())
    base = cfg["experiments"]["tiny"]
    base.update(baselines=[], mip=[], solvers=["sa"])
    # `big`: many replicas, whose solve outweighs the compile; `plain`: the registry's subnetwork defaults
    cfg["experiments"] = {
        "big": dict(base, dropout={"rounds": 1, "K": 1, "time_limit": 1, "solver": "ste-pt", "replicas": 150000,
                                   "steps": 700}),
        "plain": dict(base, dropout={"rounds": 1, "K": 1, "time_limit": 1}),
    }
    (tmp_path / "config/resources.yaml").write_text(yaml.safe_dump(cfg))
    jobs = _dry_run_resources(tmp_path, "config/resources.yaml")
    sub = {re.search(r"exp=(\w+)", w).group(1): int(r["mem_mb"]) for (rule, w), r in jobs.items()
           if rule == "dropout_subnetwork"}
    assert sub["big"] == _expected_mb(cfg, "big", "ste-pt", 150000, 700)
    d = solver_registry.SUBNETWORK_DEFAULTS
    assert sub["plain"] == _expected_mb(cfg, "plain", d["solver"], d["replicas"], d["steps"])
    # the settings matter: 150,000 replicas need gigabytes, the defaults little more than the interpreter
    assert sub["big"] > 1000 + sub["plain"] and sub["plain"] < TORCH_MB + 100
    # a solve job is still sized from its own solver's settings (solver_settings: sa 8 replicas, 300 steps)
    solve = [int(r["mem_mb"]) for (rule, _), r in jobs.items() if rule == "solve"]
    sa = cfg["solver_settings"]["sa"]
    assert solve and set(solve) == {_expected_mb(cfg, "plain", "sa", sa["replicas"], sa["steps"], compiles=False)}
