"""Tables of the report: per-run metrics -> one table, the per-variant summary, paired differences.

Run identity (dataset, topology, method, λ, dropout, seed) comes from the metrics records
(:class:`qbnn.run_metrics.RunMetrics`), never from file names. The figures are in :mod:`qbnn.figures`.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from qbnn import solver_registry as registry
from qbnn.errors import QbnnError
from qbnn.identity import RUN_FIELDS
from qbnn.io import atomic_output
from qbnn.paired import ci95, paired_table
from qbnn.run_metrics import RunMetrics

COLUMNS = ("method", "dataset", "topology", "seed", "train_accuracy", "test_accuracy", "seconds")


def load_metrics(paths: list[str | os.PathLike]) -> pd.DataFrame:
    """One row per metrics JSON file: its scalar values and its identity (:meth:`RunMetrics.row`), plus
    ``source_file``. Every file must carry the run identity (``experiment, dataset, topology, method,
    seed``; the workflow's rules pass it with ``--identity``)."""
    rows = []
    for p in map(Path, paths):
        rec = RunMetrics.load(p)
        missing = rec.identity.missing(RUN_FIELDS)
        if missing:
            raise QbnnError(f"metrics file {p} lacks identity field(s) {', '.join(missing)} "
                            "(write it with --identity KEY=VALUE,...)")
        rows.append({**rec.row(), "source_file": str(p)})
    if not rows:
        raise QbnnError("no metrics files given")
    df = pd.DataFrame(rows)
    front = [c for c in COLUMNS if c in df.columns]
    return df[front + [c for c in df.columns if c not in front]]


def accuracy_stats(g) -> pd.DataFrame:
    """Per group of ``g`` (a DataFrameGroupBy): train/test accuracy mean, std, count and 95% CI half-width."""
    out = g[["train_accuracy", "test_accuracy"]].agg(["mean", "std", "count"])
    out.columns = ["_".join(c) for c in out.columns]
    for col in ("train_accuracy", "test_accuracy"):
        out[f"{col}_ci95"] = ci95(out[f"{col}_std"], out[f"{col}_count"])
    return out.reset_index()


BASELINE_NAMES = {"ste": "STE BNN", "greedy": "greedy", "mlp": "MLP", "logreg": "logreg"}


def variant(row) -> str:
    """The comparison the paper asks about: QUBO plain / +margin / +dropout / +both, or the baseline's name."""
    method = str(row["method"])
    if method.startswith("qubo"):
        margin = row.get("margin")
        has_margin = margin is not None and not pd.isna(margin) and float(margin) > 0
        dropout = bool(row.get("dropout")) if not pd.isna(row.get("dropout")) else False
        return {(False, False): "QUBO plain", (True, False): "QUBO +margin",
                (False, True): "QUBO +dropout", (True, True): "QUBO +both"}[(has_margin, dropout)]
    if method.startswith("mip_"):
        return f"MIP {method[4:]}"
    return BASELINE_NAMES.get(method, method)


def summarise_variants(df: pd.DataFrame) -> pd.DataFrame:
    """Test/train accuracy mean ± 95% CI per (dataset, topology, variant, solver, λ).

    ``variant`` is :func:`variant`; ``solver`` and ``margin`` are empty for baselines. Adds
    ``gap_mean`` = train mean − test mean (the generalisation gap).
    """
    d = run_keys(df)
    d["margin"] = d["margin"].fillna(-1.0)  # groupby drops NaN keys; -1 marks "no λ"
    d["constant_predictor"] = (d["constant_predictor"].fillna(False).astype(bool) if "constant_predictor" in d
                               else False)
    groups = d.groupby(["dataset", "topology", "variant", "solver", "margin"], sort=True)
    out = accuracy_stats(groups)
    # runs whose network predicts one class for every sample (a failed training, not a result)
    out["constant_runs"] = groups["constant_predictor"].sum().astype(int).to_numpy()
    out["margin"] = out["margin"].where(out["margin"] >= 0)
    out = out.rename(columns={"test_accuracy_count": "n"}).drop(columns=["train_accuracy_count"])
    out["gap_mean"] = out["train_accuracy_mean"] - out["test_accuracy_mean"]
    out["generic_solver"] = out["solver"].map(is_generic_solver).astype(bool)
    order = {v: i for i, v in enumerate(["QUBO plain", "QUBO +margin", "QUBO +dropout", "QUBO +both",
                                         "STE BNN", "greedy", "MLP", "logreg"])}
    out["_o"] = out["variant"].map(order).fillna(len(order))
    out = out.sort_values(["dataset", "topology", "_o", "variant", "solver", "margin"]).drop(columns="_o")
    return out.reset_index(drop=True)


def is_generic_solver(name) -> bool:
    """Whether ``name`` is a generic sampler, blind to the BNN structure: a registry Ising machine, the
    exhaustive reference, or a dimod sampler (``dimod:MODULE.CLASS``). On BNN QUBOs they usually decode to
    constant predictors, so the report marks their rows as reference rows."""
    if not isinstance(name, str) or not name:
        return False
    try:
        spec = registry.get(name)  # registered names, aliases, dimod:MODULE.CLASS (kind external)
    except QbnnError:
        return False
    return spec.kind in ("ising", "external") or spec.name == "exhaustive"


def variant_label(row) -> str:
    """Short label of a :func:`summarise_variants` row, e.g. ``QUBO +margin sa (generic) λ=0.05``."""
    parts = [row["variant"]]
    if row.get("solver"):
        parts.append(str(row["solver"]))
        if is_generic_solver(row["solver"]):
            parts.append("(generic)")
    if row.get("margin") is not None and not pd.isna(row.get("margin")) and row["margin"] > 0:
        parts.append(f"λ={row['margin']:g}")
    return " ".join(parts)


#: fewer runs than this: draw the runs themselves, not a 95% interval (t with 1 dof spans ±12.7 std)
MIN_RUNS_FOR_INTERVAL = 3


def clipped_yerr(mean, half_width) -> np.ndarray:
    """(2, n) asymmetric error bars of ``mean ± half_width`` clipped to the accuracy range [0, 1]."""
    mean = np.asarray(mean, dtype=np.float64)
    h = np.nan_to_num(np.asarray(half_width, dtype=np.float64))
    return np.vstack([np.minimum(h, mean), np.minimum(h, 1.0 - mean)]).clip(min=0.0)


def run_keys(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the (variant, solver, margin) keys of :func:`summarise_variants` per run."""
    d = df.copy()
    d["variant"] = [variant(r) for r in d.to_dict("records")]
    d["solver"] = d["solver"].fillna("") if "solver" in d else ""
    d["margin"] = d["margin"] if "margin" in d else np.nan
    d.loc[~d["method"].astype(str).str.startswith("qubo"), ["solver", "margin"]] = ["", np.nan]
    return d


def runs_of(runs: pd.DataFrame | None, row) -> pd.DataFrame:
    """The runs behind one summary row (empty without ``runs``)."""
    if runs is None:
        return pd.DataFrame(columns=["train_accuracy", "test_accuracy"])
    m = ((runs["dataset"] == row["dataset"]) & (runs["topology"] == row["topology"])
         & (runs["variant"] == row["variant"]) & (runs["solver"] == row["solver"]))
    m &= runs["margin"].isna() if pd.isna(row["margin"]) else np.isclose(runs["margin"].astype(float), row["margin"])
    return runs[m]


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> None:
    with atomic_output(path, suffix=".csv") as tmp:
        df.to_csv(tmp, index=False)


def paired_variants(df: pd.DataFrame) -> pd.DataFrame:
    """Paired Δ test accuracy of every variant to plain QUBO training on the same seeds, per
    (dataset, topology) (:func:`qbnn.paired.paired_table`; reference ``QUBO plain`` of ``ste-pt`` when
    present, else of the first solver). Variant labels are :func:`variant_label`'s. Without plain QUBO
    runs (or nothing else) the table is empty."""
    d = df.copy()
    d["variant"] = [variant(r) for r in d.to_dict("records")]
    if "solver" not in d:
        d["solver"] = ""
    d.loc[~d["method"].astype(str).str.startswith("qubo"), "solver"] = ""
    d["solver"] = d["solver"].fillna("")
    d["label"] = [variant_label(r) for r in d.to_dict("records")]
    d["group"] = d["dataset"].astype(str) + "/" + d["topology"].astype(str)
    plain = sorted(d.loc[d["variant"] == "QUBO plain", "label"].unique(), key=lambda s: (not s.endswith("ste-pt"), s))
    if not plain or (d["variant"] != "QUBO plain").sum() == 0:  # nothing to pair: an empty table says so
        return pd.DataFrame(columns=["group", "variant", "reference", "n", "delta_mean", "delta_ci95", "ci_low",
                                     "ci_high", "wins", "losses", "ties", "p_wilcoxon", "p_sign", "p_holm",
                                     "holm_significant", "verdict"])
    return paired_table(d, plain, group="group", variant="label")
