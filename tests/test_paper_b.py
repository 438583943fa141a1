"""Paper B's study through the workflow: real-valued datasets, the DNN baseline, the paper-B
configs and the tables/figures (qbnn.figures.paper_b)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from qbnn.data import binarise, load_dataset, write_dataset
from qbnn.errors import QbnnError

ROOT = Path(__file__).resolve().parents[1]


def _csv(tmp_path, X, y, name="t.csv"):
    p = tmp_path / name
    p.write_text("\n".join(";".join(repr(float(v)) for v in row) + f";{lab}" for row, lab in zip(X, y)) + "\n")
    return p


def _real(path, **kw):
    return {"source": "csv", "path": str(path), "delimiter": ";", "header": False, "encoding": "real", **kw}


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 50), scaling=st.sampled_from(["minmax", "standard"]), outlier=st.floats(-1e3, 1e3))
def test_scaling_is_fitted_on_the_training_split_only(tmp_path_factory, seed, scaling, outlier):
    tmp_path = tmp_path_factory.mktemp("scale")
    rng = np.random.default_rng(seed)
    X = rng.uniform(-5, 5, size=(40, 3))
    y = np.arange(40) % 2
    cfg = _real(_csv(tmp_path, X, y), scaling=scaling, train_size=20, validation_size=8, test_size=12, seed=seed)
    a = binarise(cfg)
    tr, va, te = a["index_train"], a["index_val"], a["index_test"]
    assert len(tr) == 20 and len(va) == 8 and len(te) == 12
    assert len(set(tr) | set(va) | set(te)) == 40  # disjoint
    Xtr = a["X_train"]
    if scaling == "minmax":
        assert np.allclose(Xtr.min(axis=0), 0) and np.allclose(Xtr.max(axis=0), 1)
    else:
        assert np.allclose(Xtr.mean(axis=0), 0, atol=1e-9) and np.allclose(Xtr.std(axis=0), 1)
    # moving a test row anywhere changes nothing in the training features (nor the transform)
    X2 = X.copy()
    X2[te[0], 0] = outlier
    b = binarise({**cfg, "path": str(_csv(tmp_path, X2, y, "t2.csv"))})
    assert np.array_equal(b["index_train"], tr) and np.allclose(b["X_train"], Xtr)
    assert b["attrs"]["scale_shift"] == a["attrs"]["scale_shift"]
    # the test rows are transformed by the training rule: (x - shift) / scale
    shift, scale = np.array(json.loads(a["attrs"]["scale_shift"])), np.array(json.loads(a["attrs"]["scale_factor"]))
    assert np.allclose(a["X_test"], (X[te] - shift) / scale)


def test_real_dataset_file_feeds_mip_and_is_refused_by_qubo_rules(tmp_path, capsys):
    from qbnn.cli import main

    rng = np.random.default_rng(0)
    X = rng.uniform(0, 10, size=(60, 4))
    y = (X[:, 0] > 5).astype(int)
    data = binarise(_real(_csv(tmp_path, X, y), train_size=30, validation_size=10, test_size=20))
    path = tmp_path / "real.h5"
    write_dataset(path, data)
    Xtr, ytr, Xte, yte, attrs = load_dataset(path, real=True)
    assert Xtr.dtype == np.float64 and attrs["encoding"] == "real" and attrs["validation"][0].shape == (10, 4)
    with pytest.raises(QbnnError, match="real-valued"):
        load_dataset(path)
    net = tmp_path / "net.yaml"
    net.write_text("layers: [4, 2, 1]\n")
    before = path.read_bytes()
    for argv in (["compile", "--data", str(path), "--network", str(net), "--out", str(tmp_path / "q.h5")],
                 ["baseline", "--data", str(path), "--network", str(net), "--method", "ste", "--out", str(tmp_path / "b.json")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("qbnn: error:") and "real-valued" in err and "binarised" in err
    assert path.read_bytes() == before and not (tmp_path / "q.h5").exists()
    # MIP training takes it, and its validation split picks the split network
    assert main(["train-mip", "--data", str(path), "--network", str(net), "--method", "split", "--time-limit", "5",
                 "--out", str(tmp_path / "m.h5")]) == 0
    s = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert s["validation_accuracy"] is not None and s["test_accuracy"] >= 0.8  # x0 > 5 is one unit


def test_csv_without_header_and_sklearn_sources(tmp_path):
    p = tmp_path / "nohead.csv"
    p.write_text("1;2;a\n3;4;b\n5;6;a\n7;8;b\n9;1;a\n2;3;b\n")
    d = binarise({"source": "csv", "path": str(p), "delimiter": ";", "header": False, "encoding": "real",
                  "scaling": "none", "train_size": 4, "test_size": 2})
    assert d["X_train"].shape == (4, 2) and json.loads(d["attrs"]["classes"]) == ["a", "b"]
    assert set(map(tuple, d["X_train"])) <= {(1, 2), (3, 4), (5, 6), (7, 8), (9, 1), (2, 3)}
    with pytest.raises(QbnnError, match="delimiter"):
        binarise({"source": "csv", "path": str(p), "delimiter": ";;"})
    with pytest.raises(QbnnError, match="scaling applies to encoding: real"):
        binarise({"source": "iris", "scaling": "minmax"})
    for source, shape, classes in (("iris", 4, 3), ("wine", 13, 3), ("breast_cancer", 30, 2)):
        d = binarise({"source": source, "encoding": "real", "test_size": 30})
        assert d["X_train"].shape[1] == shape and int(d["attrs"]["n_classes"]) == classes


def test_paper_b_original_breast_cancer_file():
    path = ROOT.parent / "shared/datasets/paper-b/breast-cancer-wisconsin.csv"
    if not path.exists():
        pytest.skip("paper B's data (../shared/datasets/paper-b) not present")
    d = binarise(_real(path, train_size=349, validation_size=175, test_size=175))
    assert d["X_train"].shape == (349, 9) and len(d["X_val"]) == 175 and len(d["X_test"]) == 175
    n_pos = sum(np.sum(d[k] == 1) for k in ("y_train", "y_val", "y_test"))
    assert n_pos == 241  # malignant, as the README states


def test_dnn_baseline_as_the_paper_ran_it():
    from qbnn.baselines import run_baseline
    from qbnn.topology import Topology

    rng = np.random.default_rng(1)
    X = rng.uniform(0, 1, size=(1300, 5))
    y = np.where(X[:, 0] + X[:, 1] > 1, 1, -1)
    topo = Topology.layered([5, 100, 1])
    a = run_baseline("dnn", topo, X[:1000], y[:1000], X[1000:], y[1000:], seed=3)
    b = run_baseline("dnn", topo, X[:1000], y[:1000], X[1000:], y[1000:], seed=3)
    assert a["method"] == "dnn" and a["activation"] == "relu"
    assert a["test_accuracy"] == b["test_accuracy"] and a["final_loss"] == b["final_loss"]  # seeded batches
    # a linear rule: 30 epochs of 16 batches of 64 learn it (with 200 points, 120 Adam steps do not)
    assert a["test_accuracy"] >= 0.9
    assert a["attack_accuracy_e0"] == pytest.approx(a["test_accuracy"])
    assert a["attack_accuracy_e2"] <= a["attack_accuracy_e0"]
    # mini-batches, not full batch: full-batch training with the same settings ends elsewhere
    from qbnn.baselines.reference import train_mlp

    full = train_mlp(topo, X[:1000], y[:1000], activation="relu", epochs=30, lr=1e-3, seed=3)
    assert full["final_loss"] != a["final_loss"]


@pytest.mark.parametrize("name", ["paper-b.yaml", "paper-b-reduced.yaml"])
def test_paper_b_configs_resolve(name):
    from snakemake.utils import validate

    cfg = yaml.safe_load((ROOT / "config" / name).read_text())
    validate(cfg, str(ROOT / "config/schema/config.schema.yaml"))
    for exp_name, exp in cfg["experiments"].items():
        layers = yaml.safe_load((ROOT / cfg["topologies"][exp["topology"]]).read_text())["layers"]
        ds = cfg["datasets"][exp["dataset"]]
        for v in exp.get("mip", []):
            assert v in ("exact", "local", "split") or "method" in exp.get("mip_settings", {}).get(v, {}), (exp_name, v)
        assert ds["encoding"] == "real" and "validation_size" in ds
        if exp_name == "bc_robust":
            assert layers[1:] == [50, 50, 1]
        else:
            assert layers[1] == 100 and len(layers) == 3
    assert set(cfg["paper_b"]["size_series"]) <= set(cfg["datasets"])


def _metrics():
    rows = []
    for ds, bd, dn in (("a", [0.90, 0.91, 0.92], [0.70, 0.71, 0.72]), ("b", [0.80, 0.81, 0.82], [0.80, 0.82, 0.81])):
        for seed, (p, q) in enumerate(zip(bd, dn)):
            rows.append({"dataset": ds, "topology": "h", "method": "mip_split-paper", "seed": seed, "test_accuracy": p,
                         "train_accuracy": 1.0, "seconds": 2.0, "mip_gap": 0.5, "n_train": 50 * (seed + 1),
                         "attack_accuracy_e0": p, "attack_accuracy_e1": p / 2, "certified_accuracy_e0": p,
                         "certified_accuracy_e1": 0.1})
            rows.append({"dataset": ds, "topology": "h", "method": "dnn", "seed": seed, "test_accuracy": q,
                         "train_accuracy": 1.0, "seconds": 1.0, "n_train": 50 * (seed + 1),
                         "attack_accuracy_e0": q, "attack_accuracy_e1": q / 3})
    return pd.DataFrame(rows)


def test_accuracy_table_ci_and_verdicts():
    from qbnn.figures.paper_b import accuracy_table, table_markdown

    t = accuracy_table(_metrics())
    row = t[(t["dataset"] == "a") & (t["method"] == "dnn")].iloc[0]
    # t(0.975, 2) * std / sqrt(3) with std 0.01
    assert row["test_mean"] == pytest.approx(0.71) and row["test_ci95"] == pytest.approx(4.302653 * 0.01 / np.sqrt(3))
    verdict = dict(zip(t.loc[t["method"] == "best BDNN - DNN", "dataset"], t.loc[t["method"] == "best BDNN - DNN", "verdict"]))
    assert verdict == {"a": "BDNN better", "b": "tie (CIs overlap)"}
    md = table_markdown(t)
    assert "| a | h | mip_split-paper | 3 | 0.910 ± 0.025 |" in md and "constant runs" in md and "+20.0 | BDNN better" in md


def test_paper_b_figures_command(tmp_path, capsys):
    from qbnn.cli import main

    m = tmp_path / "metrics.csv"
    _metrics().to_csv(m, index=False)
    out = tmp_path / "fig"
    assert main(["paper-b-figures", "--metrics", str(m), "--size-series", "a", "--out-dir", str(out)]) == 0
    s = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert s["comparison"] == {"a/h": "BDNN better", "b/h": "tie (CIs overlap)"}
    for f in ("accuracy.png", "accuracy.md", "sizes.png", "robust.png"):
        assert (out / f).stat().st_size > 500
    robust = pd.read_csv(out / "robust.csv")
    r = robust[(robust["dataset"] == "a") & (robust["method"] == "mip_split-paper")].iloc[0]
    assert r["attack_e1"] == pytest.approx(0.455) and r["certified_e1"] == pytest.approx(0.1)
    assert main(["paper-b-figures", "--metrics", str(tmp_path / "none.csv"), "--out-dir", str(out)]) == 2


def test_split_histories_and_metrics_carry_identity_under_any_name(tmp_path, capsys):
    """Paper B's records are the common ones: train-mip writes the metrics record with the run identity, the
    MIP network keeps it, and split histories read it from the network whatever the file is called."""
    from qbnn.cli import main
    from qbnn.figures.paper_b import split_histories
    from qbnn.run_metrics import RunMetrics

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = (X[:, 0] > 0).astype(int)
    data = tmp_path / "d.h5"
    write_dataset(data, X[:20], np.where(y[:20] == 1, 1, -1), X[20:], np.where(y[20:] == 1, 1, -1),
                  {"encoding": "real", "classes": [0, 1]})
    (tmp_path / "net.yaml").write_text("layers: [3, 2, 1]\n")
    net, metrics = tmp_path / "anything.h5", tmp_path / "whatever.json"
    assert main(["train-mip", "--data", str(data), "--network", str(tmp_path / "net.yaml"), "--method", "split",
                 "--split-init", "one", "--solve-limit", "1", "--time-limit", "5", "--variant", "split-paper",
                 "--identity", "experiment=bc,dataset=bc,topology=h2", "--out", str(net),
                 "--metrics", str(metrics)]) == 0
    capsys.readouterr()
    rec = RunMetrics.load(metrics)
    assert rec.identity.to_dict() == {"experiment": "bc", "dataset": "bc", "topology": "h2",
                                      "method": "mip_split-paper", "seed": 0}
    assert rec.provenance["versions"]["qbnn"]
    h = split_histories([net])
    assert set(h["dataset"]) == {"bc"} and set(h["topology"]) == {"h2"} and set(h["method"]) == {"mip_split-paper"}
    assert (h["train_error_rate"] == h["train_loss"] / 20).all()


def test_workflow_refuses_qubo_runs_on_real_data_before_any_job(tmp_path):
    import shutil
    import subprocess
    import sys

    for item in ("Snakefile", "workflow", "config", "envs"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / item)
    cfg = yaml.safe_load((ROOT / "config/paper-b-reduced.yaml").read_text())
    cfg["experiments"]["iris"]["solvers"] = ["sa"]
    (tmp_path / "config/bad.yaml").write_text(yaml.safe_dump(cfg))
    snakemake = shutil.which("snakemake") or str(Path(sys.executable).with_name("snakemake"))
    res = subprocess.run([snakemake, "-n", "--cores", "1", "--configfile", "config/bad.yaml"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert res.returncode != 0
    assert "experiments.iris" in res.stderr + res.stdout and "encoding: real" in res.stderr + res.stdout
    assert not (tmp_path / "results").exists()
