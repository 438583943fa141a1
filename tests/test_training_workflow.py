"""The workflow runs `qbnn train` as a grid solver (`train: [...]` in an experiment)."""
import json

import pandas as pd
import pytest
import yaml

from test_workflow import _snakemake, _workdir

pytestmark = pytest.mark.slow


def _train_only(tmp_path, strategies, settings):
    """A work dir whose tiny experiment runs only ``train`` strategies (config/train.yaml) and its config."""
    wd = _workdir(tmp_path)
    cfg = yaml.safe_load((wd / "config/test.yaml").read_text())
    exp = cfg["experiments"]["tiny"]
    for key in ("solvers", "baselines", "mip", "dropout"):
        exp.pop(key, None)
    exp["train"] = strategies
    cfg["train_settings"] = settings
    (wd / "config/train.yaml").write_text(yaml.safe_dump(cfg))
    return wd, cfg


def test_train_strategies_run_as_grid_solvers(tmp_path):
    wd, _ = _train_only(tmp_path, ["lns", "consensus"], {"time_limit": 1, "warm_start": "none"})
    res = _snakemake(wd, "results/report/metrics.csv", "--cores", "1", "--configfile", "config/train.yaml")
    assert res.returncode == 0, res.stderr[-4000:]
    table = pd.read_csv(wd / "results/report/metrics.csv")
    assert {"train_lns", "train_consensus"} <= set(table["method"])
    assert table["test_accuracy"].between(0, 1).all()
    assert (wd / "results/train/bas4/h2/train-lns_s0.h5").exists()


def test_train_settings_kappa_reaches_qbnn_train(tmp_path):
    wd, cfg = _train_only(tmp_path, ["lns"], {"time_limit": 1, "kappa": 2})
    out = "results/train/bas4/h2/train-lns_s0.json"
    res = _snakemake(wd, out, "--cores", "1", "--configfile", "config/train.yaml")
    assert res.returncode == 0, res.stderr[-4000:]
    metrics = json.loads((wd / out).read_text())
    assert metrics["kappa"] == 2.0 and "kappa_cv" not in metrics  # the setting, not the default cv
    cfg["train_settings"] = {"time_limit": 1, "kappa": "wide"}  # neither a number nor rule / cv
    (wd / "config/bad.yaml").write_text(yaml.safe_dump(cfg))
    res = _snakemake(wd, out, "--cores", "1", "--configfile", "config/bad.yaml", "--forceall")
    assert res.returncode != 0 and "kappa" in res.stderr
