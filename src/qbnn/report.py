"""Aggregate per-run metrics into one table and draw the method comparison figure."""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from qbnn.cli.solve import GENERIC_SOLVERS
from qbnn.errors import QbnnError
from qbnn.io import atomic_output
from qbnn.paired import ci95, paired_table
from qbnn.records import read_metrics_json

_QUBO_RUN = re.compile(r"^qubo_m([0-9.]+)(_dropout-.+-s\d+)?_([a-z-]+)$")
COLUMNS = ("method", "dataset", "topology", "seed", "train_accuracy", "test_accuracy", "seconds")


def load_metrics(paths: list[str | os.PathLike]) -> pd.DataFrame:
    """One row per metrics JSON file.

    ``dataset`` and ``topology`` come from the path ``results/<stage>/<dataset>/<topology>/<run>.json``
    unless the file names them; ``method`` falls back to the file stem without its seed.
    """
    rows = []
    for p in map(Path, paths):
        rec = read_metrics_json(p)
        parts = p.parts
        flat = {k: v for k, v in rec.items() if np.isscalar(v) or v is None}
        flat.setdefault("dataset", parts[-3] if len(parts) >= 3 else "")
        flat.setdefault("topology", parts[-2] if len(parts) >= 2 else "")
        stem = p.stem
        run, _, seed = stem.rpartition("_s")
        qubo_run = _QUBO_RUN.match(run)
        if qubo_run:  # results/evaluate/.../qubo_m{margin}_{solver}_s{seed}.json
            # the run name is authoritative (metadata copied from the network file is generic)
            flat["margin"] = float(qubo_run.group(1))
            flat["solver"] = qubo_run.group(3)
            flat["dropout"] = bool(qubo_run.group(2))
            # the experiment whose dropout penalties the QUBO carries ("" for plain runs)
            flat["dropout_exp"] = qubo_run.group(2)[len("_dropout-"):].rpartition("-s")[0] if qubo_run.group(2) else ""
            flat["method"] = f"qubo{'+dropout' if qubo_run.group(2) else ''}_{qubo_run.group(3)}"
        elif len(parts) >= 4 and parts[-4] == "mip":
            flat["method"] = f"mip_{flat.get('method', run)}"
        flat.setdefault("method", run or stem)
        if "seed" not in flat and seed.isdigit():
            flat["seed"] = int(seed)
        flat["source_file"] = str(p)
        rows.append(flat)
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
    d = _run_keys(df)
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
    out["generic_solver"] = out["solver"].isin(generic_solvers())
    order = {v: i for i, v in enumerate(["QUBO plain", "QUBO +margin", "QUBO +dropout", "QUBO +both",
                                         "STE BNN", "greedy", "MLP", "logreg"])}
    out["_o"] = out["variant"].map(order).fillna(len(order))
    out = out.sort_values(["dataset", "topology", "_o", "variant", "solver", "margin"]).drop(columns="_o")
    return out.reset_index(drop=True)


def generic_solvers() -> tuple[str, ...]:
    """Generic Ising solvers: on BNN QUBOs they usually decode to constant predictors (reference rows)."""
    return GENERIC_SOLVERS


def variant_label(row) -> str:
    """Short label of a :func:`summarise_variants` row, e.g. ``QUBO +margin sa (generic) λ=0.05``."""
    parts = [row["variant"]]
    if row.get("solver"):
        parts.append(str(row["solver"]))
        if row["solver"] in generic_solvers():
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


def _run_keys(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the (variant, solver, margin) keys of :func:`summarise_variants` per run."""
    d = df.copy()
    d["variant"] = [variant(r) for r in d.to_dict("records")]
    d["solver"] = d["solver"].fillna("") if "solver" in d else ""
    d["margin"] = d["margin"] if "margin" in d else np.nan
    d.loc[~d["method"].astype(str).str.startswith("qubo"), ["solver", "margin"]] = ["", np.nan]
    return d


def _runs_of(runs: pd.DataFrame | None, row) -> pd.DataFrame:
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


def plot_accuracy(summary: pd.DataFrame, path: str | os.PathLike, runs: pd.DataFrame | None = None) -> None:
    """Grouped bars of train/test accuracy per method, one panel per (dataset, topology).

    ``summary`` is :func:`summarise_variants` (bars labelled by :func:`variant_label`). A variant with at
    least MIN_RUNS_FOR_INTERVAL runs gets its 95% interval (clipped to [0, 1]); one with fewer gets no
    interval, and its individual runs (from ``runs``, the per-run table) are drawn as points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summary.copy()
    summary["_label"] = [variant_label(r) for r in summary.to_dict("records")]
    runs = None if runs is None else _run_keys(runs)
    groups = list(summary.groupby(["dataset", "topology"], sort=False))
    width = max(5, 0.45 * summary.groupby(["dataset", "topology"]).size().max() + 1.5)
    fig, axes = plt.subplots(len(groups), 1, figsize=(width, 4.2 * len(groups)), squeeze=False)
    for ax, ((ds, topo), sub) in zip(axes[:, 0], groups):
        x = np.arange(len(sub))
        few = (sub["n"] < MIN_RUNS_FOR_INTERVAL).to_numpy()
        for off, col, label in ((-0.2, "train_accuracy", "train"), (0.2, "test_accuracy", "test")):
            yerr = clipped_yerr(sub[f"{col}_mean"], np.where(few, 0.0, sub[f"{col}_ci95"]))
            ax.bar(x + off, sub[f"{col}_mean"], 0.4, yerr=yerr, capsize=3, label=label)
            for xi, row in zip(x[few], sub[few].to_dict("records")):
                pts = _runs_of(runs, row)[col].to_numpy(dtype=float)
                ax.plot(np.full(len(pts), xi + off), pts, "o", ms=4, mfc="white", color="black", zorder=3,
                        label="single runs (n < 3)" if label == "test" and xi == x[few][0] else None)
        ax.set_xticks(x, sub["_label"], rotation=40, ha="right", fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_ylabel("accuracy")
        ax.set_title(f"{ds} / {topo}")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    with atomic_output(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def plot_margin(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Test accuracy vs margin weight λ per QUBO solver (mean, 95% CI clipped to [0, 1]); with fewer than
    MIN_RUNS_FOR_INTERVAL runs at a λ, its runs as points instead of an interval; a note when no margins were run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    sub = df[df.get("margin").notna()] if "margin" in df.columns else df.iloc[0:0]
    for (method, ds, topo), g in sub.groupby(["method", "dataset", "topology"], sort=True):
        stats = g.groupby("margin")["test_accuracy"].agg(["mean", "std", "count"])
        few = (stats["count"] < MIN_RUNS_FOR_INTERVAL).to_numpy()
        ci = np.where(few, 0.0, ci95(stats["std"], stats["count"]))
        line = ax.errorbar(stats.index, stats["mean"], yerr=clipped_yerr(stats["mean"], ci), marker="o", capsize=3,
                           label=f"{method} ({ds}/{topo})")
        single = g[g["margin"].isin(stats.index[few])]
        ax.plot(single["margin"], single["test_accuracy"], "x", color=line[0].get_color(), ms=5)
    if len(sub):
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no QUBO runs", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("margin weight λ")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    fig.tight_layout()
    with atomic_output(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


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
