"""Accuracy figures of ``qbnn aggregate``: train/test accuracy per variant, test accuracy vs λ, and the
paired differences to plain QUBO training (tables: :mod:`qbnn.report`, :mod:`qbnn.paired`)."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd

from qbnn.figures.style import placeholder, pyplot, save
from qbnn.paired import ci95
from qbnn.report import MIN_RUNS_FOR_INTERVAL, clipped_yerr, run_keys, runs_of, variant_label


def plot_accuracy(summary: pd.DataFrame, path: str | os.PathLike, runs: pd.DataFrame | None = None) -> None:
    """Grouped bars of train/test accuracy per method, one panel per (dataset, topology).

    ``summary`` is :func:`summarise_variants` (bars labelled by :func:`variant_label`). A variant with at
    least MIN_RUNS_FOR_INTERVAL runs gets its 95% interval (clipped to [0, 1]); one with fewer gets no
    interval, and its individual runs (from ``runs``, the per-run table) are drawn as points."""
    plt = pyplot()
    summary = summary.copy()
    summary["_label"] = [variant_label(r) for r in summary.to_dict("records")]
    runs = None if runs is None else run_keys(runs)
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
                pts = runs_of(runs, row)[col].to_numpy(dtype=float)
                ax.plot(np.full(len(pts), xi + off), pts, "o", ms=4, mfc="white", color="black", zorder=3,
                        label="single runs (n < 3)" if label == "test" and xi == x[few][0] else None)
        ax.set_xticks(x, sub["_label"], rotation=40, ha="right", fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_ylabel("accuracy")
        ax.set_title(f"{ds} / {topo}")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    save(fig, path)


def plot_margin(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Test accuracy vs margin weight λ per QUBO solver (mean, 95% CI clipped to [0, 1]); with fewer than
    MIN_RUNS_FOR_INTERVAL runs at a λ, its runs as points instead of an interval; a note when no margins were run."""
    plt = pyplot()
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
    save(fig, path)


def plot_paired(table: pd.DataFrame, path: str | os.PathLike, group: str = "regime") -> None:
    """Forest plot: paired Δ test accuracy ± 95 % interval per variant, one panel per group."""
    plt = pyplot()
    groups = list(table.groupby(group, sort=True))
    if not groups:  # an empty table (nothing to pair) gives a figure that says so
        placeholder(path, "no paired runs (plain reference missing)")
        return
    ncol = min(3, len(groups))
    nrow = int(np.ceil(len(groups) / ncol))
    height = max(2.2, 0.28 * table.groupby(group).size().max() + 1.0)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, height * nrow), squeeze=False)
    colours = {"helps": "tab:green", "hurts": "tab:red", "no detectable effect": "tab:grey"}
    for ax, (g, sub) in zip(axes.ravel(), groups):
        y = np.arange(len(sub))[::-1]
        for yi, r in zip(y, sub.to_dict("records")):
            ax.errorbar(r["delta_mean"], yi, xerr=r["delta_ci95"], fmt="o", color=colours[r["verdict"]], capsize=3)
        ax.axvline(0.0, color="black", lw=0.8)
        ax.set_yticks(y, sub["variant"], fontsize=7)
        ref = sub["reference"].iloc[0]
        ax.set_title(f"{g} (vs {ref}, n={int(sub['n'].max())})", fontsize=9)
        ax.set_xlabel("Δ test accuracy", fontsize=8)
    for ax in axes.ravel()[len(groups):]:
        ax.axis("off")
    fig.tight_layout()
    save(fig, path)
