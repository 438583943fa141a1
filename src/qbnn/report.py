"""Aggregate per-run metrics into one table and draw the method comparison figure."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from qbnn.errors import QbnnError
from qbnn.io import atomic_output

_QUBO_RUN = re.compile(r"^qubo_m([0-9.]+)(_dropout-.+-s\d+)?_([a-z-]+)$")
COLUMNS = ("method", "dataset", "topology", "seed", "train_accuracy", "test_accuracy", "seconds")


def load_metrics(paths: list[str | os.PathLike]) -> pd.DataFrame:
    """One row per metrics JSON file.

    ``dataset`` and ``topology`` come from the path ``results/<stage>/<dataset>/<topology>/<run>.json``
    unless the file names them; ``method`` falls back to the file stem without its seed.
    """
    rows = []
    for p in map(Path, paths):
        try:
            rec = json.loads(p.read_text())
        except FileNotFoundError:
            raise QbnnError(f"metrics file not found: {p}") from None
        except json.JSONDecodeError as exc:
            raise QbnnError(f"metrics file {p} is not valid JSON ({exc.msg})") from None
        if not isinstance(rec, dict) or "train_accuracy" not in rec or "test_accuracy" not in rec:
            raise QbnnError(f"metrics file {p} lacks train_accuracy/test_accuracy")
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


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Mean, 95% CI half-width (normal approximation) and count of accuracies per (dataset, topology, method)."""
    g = df.groupby(["dataset", "topology", "method"], sort=True)
    out = g[["train_accuracy", "test_accuracy"]].agg(["mean", "std", "count"])
    out.columns = ["_".join(c) for c in out.columns]
    for col in ("train_accuracy", "test_accuracy"):
        n = out[f"{col}_count"].clip(lower=1)
        out[f"{col}_ci95"] = 1.96 * out[f"{col}_std"].fillna(0.0) / np.sqrt(n)
    return out.reset_index()


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> None:
    with atomic_output(path, suffix=".csv") as tmp:
        df.to_csv(tmp, index=False)


def plot_accuracy(summary: pd.DataFrame, path: str | os.PathLike) -> None:
    """Grouped bars of train/test accuracy per method, one panel per (dataset, topology)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(summary.groupby(["dataset", "topology"], sort=True))
    fig, axes = plt.subplots(1, len(groups), figsize=(max(5, 1.2 * summary["method"].nunique()) * len(groups), 4), squeeze=False)
    for ax, ((ds, topo), sub) in zip(axes[0], groups):
        x = np.arange(len(sub))
        for off, col, label in ((-0.2, "train_accuracy", "train"), (0.2, "test_accuracy", "test")):
            ax.bar(x + off, sub[f"{col}_mean"], 0.4, yerr=sub[f"{col}_ci95"], capsize=3, label=label)
        ax.set_xticks(x, sub["method"], rotation=30, ha="right")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("accuracy")
        ax.set_title(f"{ds} / {topo}")
        ax.legend(loc="lower right")
    fig.tight_layout()
    with atomic_output(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def plot_margin(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Test accuracy vs margin weight λ per QUBO solver (mean, 95% CI); a note when no margins were run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    sub = df[df.get("margin").notna()] if "margin" in df.columns else df.iloc[0:0]
    for (method, ds, topo), g in sub.groupby(["method", "dataset", "topology"], sort=True):
        stats = g.groupby("margin")["test_accuracy"].agg(["mean", "std", "count"])
        ci = 1.96 * stats["std"].fillna(0.0) / np.sqrt(stats["count"].clip(lower=1))
        ax.errorbar(stats.index, stats["mean"], yerr=ci, marker="o", capsize=3, label=f"{method} ({ds}/{topo})")
    if len(sub):
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no QUBO runs", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("margin weight λ")
    ax.set_ylabel("test accuracy")
    fig.tight_layout()
    with atomic_output(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
