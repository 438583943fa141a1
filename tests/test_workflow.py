"""End-to-end: the Snakemake pipeline on the tiny config, in a temporary copy of the workflow."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = shutil.which("snakemake") or str(Path(sys.executable).with_name("snakemake"))

pytestmark = pytest.mark.slow


def _workdir(tmp_path: Path) -> Path:
    for item in ("Snakefile", "workflow", "config", "envs"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / item)
    return tmp_path


def _env():
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _snakemake(workdir, *args, check=True):
    return subprocess.run([SNAKEMAKE, *args], cwd=workdir, env=_env(), capture_output=True, text=True, check=False)


def test_tiny_pipeline_end_to_end(tmp_path):
    wd = _workdir(tmp_path)
    dry = _snakemake(wd, "-n", "--configfile", "config/test.yaml")
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "binarise" in dry.stdout and "compile_qubo" in dry.stdout and "aggregate" in dry.stdout
    res = _snakemake(wd, "--cores", "2", "--configfile", "config/test.yaml")
    assert res.returncode == 0, res.stderr[-5000:]
    table = pd.read_csv(wd / "results/report/metrics.csv")
    _assert_every_metrics_record_has_identity(wd / "results")
    methods = set(table["method"])
    assert any(m.startswith("qubo") for m in methods) and "greedy" in methods and "logreg" in methods
    assert table["test_accuracy"].between(0, 1).all()
    assert (wd / "reports/figures/samples_bas4.png").stat().st_size > 1000
    for fig in ("accuracy", "margin", "energy", "weights", "margin_hist", "dropout_rounds", "paired"):
        png = (wd / f"results/report/{fig}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000, fig
    summary = pd.read_csv(wd / "results/report/summary.csv")
    assert {"QUBO plain", "QUBO +dropout", "greedy", "logreg", "MIP local"} <= set(summary["variant"])
    assert summary["test_accuracy_mean"].between(0, 1).all() and (summary["n"] == 1).all()
    paired = pd.read_csv(wd / "results/report/paired.csv")  # every variant against plain QUBO, seed by seed
    assert set(paired["reference"]) == {"QUBO plain portfolio"} and "greedy" in set(paired["variant"])
    assert (paired["n"] == 1).all() and paired["p_wilcoxon"].between(0, 1).all()
    rounds = pd.read_csv(wd / "results/report/dropout_rounds.csv")  # R = 2: plain, round 0, final
    assert sorted(rounds["rounds"]) == [0, 1, 2] and set(rounds["exp"]) == {"tiny"}
    hist = pd.read_csv(wd / "results/report/margin_hist.csv")  # 16 samples x 2 hidden x 4 nets (sa, portfolio; plain, dropout)
    assert hist[hist.layer == "hidden"]["count"].sum() == 16 * 2 * 4
    rep = _snakemake(wd, "--configfile", "config/test.yaml", "--report", "reports/report.html")
    assert rep.returncode == 0, rep.stderr[-3000:]
    html = (wd / "reports/report.html").read_text(errors="replace")
    assert len(html) > 10_000 and "All experiments" in html and "tiny" in html
    per_exp = pd.read_csv(wd / "results/report/experiments/tiny/summary.csv")
    assert len(per_exp) == len(summary)  # the only experiment: its section has every variant
    assert summary.loc[summary["solver"] == "sa", "generic_solver"].all()
    assert not summary.loc[summary["solver"] == "portfolio", "generic_solver"].any()
    assert (wd / "results/benchmarks/solve/bas4_h2_m0.0_sa_s0.tsv").is_file()
    again = _snakemake(wd, "-n", "--configfile", "config/test.yaml")
    assert "Nothing to be done" in again.stdout + again.stderr


def _assert_every_metrics_record_has_identity(results: Path):
    """Every per-run metrics JSON names its run (qbnn.identity): experiment, dataset, topology, method, seed, and
    solver, λ and dropout for QUBO runs; the networks and solutions of QUBO runs carry the same identity."""
    import json

    import h5py

    files = [p for p in results.rglob("*.json") if "benchmarks" not in p.parts]
    assert len(files) >= 8  # tiny config: 4 QUBO runs, a round evaluation, 2 baselines, 1 MIP run
    for p in files:
        rec = json.loads(p.read_text())
        assert {"experiment", "dataset", "topology", "method", "seed", "provenance"} <= set(rec), p
        if rec["method"].startswith("qubo"):
            assert {"solver", "margin", "dropout"} <= set(rec) and rec["dropout"] == ("+dropout" in rec["method"]), p
    for p in list((results / "networks").rglob("*.h5")) + list((results / "solve").rglob("*.h5")):
        with h5py.File(p) as f:
            ident = json.loads(f.attrs["identity"])
        assert {"dataset", "topology", "solver", "margin", "dropout", "seed"} <= set(ident), p


def test_bad_config_stops_before_any_job(tmp_path):
    wd = _workdir(tmp_path)
    cfg = yaml.safe_load((wd / "config/test.yaml").read_text())
    cfg["datasets"]["bas4"]["train_size"] = -5
    (wd / "config/bad.yaml").write_text(yaml.safe_dump(cfg))
    res = _snakemake(wd, "--cores", "1", "--configfile", "config/bad.yaml")
    assert res.returncode != 0
    assert "train_size" in res.stderr
    assert not (wd / "results").exists()


def test_lint_is_clean(tmp_path):
    wd = _workdir(tmp_path)
    res = _snakemake(wd, "--lint", "--configfile", "config/test.yaml")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "Lints for" not in res.stdout, res.stdout[-3000:]


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "config").glob("*.yaml")))
def test_every_shipped_config_validates_and_names_existing_files(name):
    # the same schema check the Snakefile runs before any job, plus the files each config points to
    from snakemake.utils import validate

    cfg = yaml.safe_load((ROOT / "config" / name).read_text())
    validate(cfg, str(ROOT / "config/schema/config.schema.yaml"))
    for topo in cfg["topologies"].values():
        assert (ROOT / topo).is_file(), f"{name}: topology file {topo} missing"
    for exp in cfg["experiments"].values():
        assert exp["dataset"] in cfg["datasets"] and exp["topology"] in cfg["topologies"]


def test_memory_retry_gets_more_memory(tmp_path):
    """A job granted too little memory fails on attempt 1 and passes on attempt 2 with double the memory.

    memory_scale 0.5 makes mem_mb half of qbnn's own estimate (plus the interpreter); the rule hands the
    granted memory less the interpreter to qbnn's memory guard (QBNN_MEMORY_LIMIT_MB) wherever mem_mb is a
    real limit (cluster jobs; here a local --resources mem_mb budget), and the guard refuses the compile as
    the scheduler's OOM killer would. The retry doubles mem_mb and the compile runs. Without a budget the
    variable stays empty (the guard checks the machine's memory), so the same config then runs at once."""
    wd = _workdir(tmp_path)
    cfg = {
        "datasets": {"d38": {"source": "digits", "classes": [3, 8], "downsample": 4, "threshold": "mean",
                             "train_size": 100, "test_size": 50, "seed": 0}},
        "topologies": {"h8": "config/topologies/h8.yaml"},
        "experiments": {"oom": {"dataset": "d38", "topology": "h8", "solvers": ["sa"]}},
        "memory_scale": 0.5,
    }
    (wd / "config/oom.yaml").write_text(yaml.safe_dump(cfg))
    target = "results/qubo/d38/h8/m0.0.h5"
    # a local --resources mem_mb budget makes mem_mb a real limit, as a cluster's cgroup does
    res = _snakemake(wd, "--cores", "1", "--resources", "mem_mb=100000", "--configfile", "config/oom.yaml",
                     "--retries", "1", "--show-failed-logs", target)
    assert res.returncode == 0, res.stderr[-5000:]
    assert (wd / target).stat().st_size > 0
    out = res.stdout + res.stderr
    block = out[out.index("rule compile_qubo:"):]
    mems = [int(m) for m in re.findall(r"mem_mb=(\d+)", block)]
    assert len(mems) >= 2 and mems[1] >= 2 * mems[0] - 1, mems  # attempt 2 asked for double
    assert "Error in rule compile_qubo" in out
    assert "needs about" in out and "QBNN_MEMORY_LIMIT_MB" in out  # attempt 1: the guard's one-line refusal
    bench = (wd / "results/benchmarks/compile_qubo/d38_h8_m0.0.tsv").read_text().splitlines()
    assert bench[0].startswith("s\th:m:s") and len(bench) == 2  # benchmark of the successful attempt
    (wd / target).unlink()
    local = _snakemake(wd, "--cores", "1", "--configfile", "config/oom.yaml", "--retries", "0", target)
    assert local.returncode == 0 and (wd / target).is_file(), local.stderr[-3000:]


HOST_SNAKEFILE = """\
configfile: "host.yaml"


module qbnn:
    snakefile:
        "{snakefile}"
    config:
        config
    prefix:
        "qbnn_out"


use rule * from qbnn as qbnn_*


rule all:
    input:
        rules.qbnn_all.input,
    default_target: True
"""


def test_host_workflow_runs_the_test_config_as_a_prefixed_module(tmp_path):
    """A host workflow in another directory uses this one as a module with a prefix: the shipped topology is
    found in the module's directory, and every output (solve checkpoints included) lands under the prefix."""
    (tmp_path / "qbnn").mkdir()
    module = _workdir(tmp_path / "qbnn")
    host = tmp_path / "host"
    host.mkdir()
    shutil.copy(module / "config/test.yaml", host / "host.yaml")  # topologies: config/topologies/h2.yaml
    (host / "Snakefile").write_text(HOST_SNAKEFILE.format(snakefile=module / "Snakefile"))
    dry = _snakemake(host, "-n", "-p")
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "--checkpoint qbnn_out/results/checkpoints/bas4/h2/m0.0_sa_s0.ckpt" in dry.stdout
    assert str(module / "config/topologies/h2.yaml") in dry.stdout
    res = _snakemake(host, "--cores", "2")
    assert res.returncode == 0, res.stderr[-5000:]
    table = pd.read_csv(host / "qbnn_out/results/report/metrics.csv")
    assert len(table) == 7 and table["test_accuracy"].between(0, 1).all()
    assert (host / "qbnn_out/results/report/experiments/tiny/summary.csv").is_file()
    assert not (host / "results").exists() and not (host / "logs").exists()
    assert not (module / "results").exists()
