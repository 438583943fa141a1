"""Paper B's (Kurtz & Bah) tables and figures from the workflow's records.

* :func:`accuracy_table` -- test accuracy per dataset x method, mean ± 95 % CI over seeds, with
  the BDNN-vs-DNN comparison (best MIP variant against the DNN baseline, per dataset);
* :func:`plot_accuracy` -- the same as grouped bars with CI whiskers;
* :func:`plot_sizes` -- runtime and test accuracy against the number of training samples;
* :func:`plot_robust` -- test accuracy under attacks of size eps (robust BDNN, plain BDNN, DNN),
  with the certified first-layer bound of the BDNNs dashed;
* :func:`plot_splits` -- per-split training error rate and validation accuracy of split runs.

Every function reads the aggregated metrics table (``qbnn aggregate``) or MIP network files;
run identity comes from the records (``dataset``, ``topology``, ``method``, ``seed``, ``n_train``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from qbnn.errors import QbnnError
from qbnn.figures.style import pyplot, save
from qbnn.mip import MIPNetwork
from qbnn.paired import ci95

DNN = "dnn"


def _mean_ci(g, col):
    out = g[col].agg(["mean", "std", "count"]).reset_index()
    out["ci95"] = ci95(out["std"], out["count"])
    return out


def is_bdnn(method: str) -> bool:
    return str(method).startswith("mip_")


def accuracy_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, topology, method): n runs, test/train accuracy mean and 95 % CI,
    mean seconds, and (MIP rows) the largest MIP gap; plus per (dataset, topology) a row
    ``method = "best BDNN - DNN"`` with the difference of means of the best MIP variant and
    the DNN and ``verdict``: "BDNN better" / "DNN better" when the two CIs do not overlap, else
    "tie (CIs overlap)"."""
    need = {"dataset", "topology", "method", "test_accuracy"}
    if not need <= set(df.columns):
        raise QbnnError(f"metrics table lacks columns {sorted(need - set(df.columns))}")
    d = df.copy()
    d["test_accuracy"] = pd.to_numeric(d["test_accuracy"], errors="coerce")
    g = d.groupby(["dataset", "topology", "method"], sort=True)
    t = _mean_ci(g, "test_accuracy").rename(columns={"mean": "test_mean", "ci95": "test_ci95", "count": "n"})
    t = t.drop(columns="std")
    if "train_accuracy" in d:
        tr = _mean_ci(g, "train_accuracy")
        t["train_mean"] = tr["mean"].to_numpy()
    if "seconds" in d:
        t["seconds_mean"] = g["seconds"].mean().to_numpy()
    if "mip_gap" in d:
        t["mip_gap_max"] = g["mip_gap"].max().to_numpy()
    if "constant_predictor" in d:  # runs whose network gives every test point one class
        # unknown (NaN) when a run did not record it
        t["constant_runs"] = g["constant_predictor"].agg(
            lambda v: np.nan if v.isna().any() else int(np.sum(v.astype(str) == "True"))).to_numpy()
    rows = []
    for (ds, topo), part in t.groupby(["dataset", "topology"], sort=True):
        bd = part[part["method"].map(is_bdnn)]
        dn = part[part["method"] == DNN]
        if bd.empty or dn.empty:
            continue
        b, n = bd.loc[bd["test_mean"].idxmax()], dn.iloc[0]
        if b["test_mean"] - b["test_ci95"] > n["test_mean"] + n["test_ci95"]:
            verdict = "BDNN better"
        elif n["test_mean"] - n["test_ci95"] > b["test_mean"] + b["test_ci95"]:
            verdict = "DNN better"
        else:
            verdict = "tie (CIs overlap)"
        rows.append({"dataset": ds, "topology": topo, "method": "best BDNN - DNN",
                     "test_mean": b["test_mean"] - n["test_mean"], "n": int(min(b["n"], n["n"])),
                     "best_bdnn": b["method"], "verdict": verdict})
    return pd.concat([t, pd.DataFrame(rows)], ignore_index=True) if rows else t


def table_markdown(t: pd.DataFrame) -> str:
    """The accuracy table as markdown: mean ± CI (n), seconds, gap; comparison rows last."""
    lines = ["| dataset | topology | method | n | test acc (mean ± 95 % CI) | train acc | mean s | max MIP gap | constant runs |",
             "|---|---|---|---|---|---|---|---|---|"]
    cmp_rows = t[t["method"] == "best BDNN - DNN"]
    for r in t[t["method"] != "best BDNN - DNN"].to_dict("records"):
        gap = r.get("mip_gap_max")
        gap = "" if gap is None or pd.isna(gap) else f"{gap:.2f}"
        lines.append(f"| {r['dataset']} | {r['topology']} | {r['method']} | {int(r['n'])} | "
                     f"{r['test_mean']:.3f} ± {r['test_ci95']:.3f} | {r.get('train_mean', float('nan')):.3f} | "
                     f"{r.get('seconds_mean', float('nan')):.1f} | {gap} | {_count(r.get('constant_runs'))} |")
    if len(cmp_rows):
        lines += ["", "| dataset | topology | best BDNN | best BDNN − DNN (points) | verdict |", "|---|---|---|---|---|"]
        for r in cmp_rows.to_dict("records"):
            lines.append(f"| {r['dataset']} | {r['topology']} | {r['best_bdnn']} | {100 * r['test_mean']:+.1f} | "
                         f"{r['verdict']} |")
    return "\n".join(lines) + "\n"


def _count(v) -> str:
    return "" if v is None or pd.isna(v) else str(int(v))


def plot_accuracy(t: pd.DataFrame, path: str | os.PathLike) -> None:
    """Grouped bars: test accuracy per dataset (groups) and method (bars), 95 % CI whiskers."""
    plt = pyplot()
    t = t[t["method"] != "best BDNN - DNN"]
    keys = list(dict.fromkeys(zip(t["dataset"], t["topology"])))
    methods = sorted(t["method"].unique(), key=lambda m: (not is_bdnn(m), m))
    fig, ax = plt.subplots(figsize=(min(16.0, max(6.0, 0.25 * len(keys) * max(1, len(methods)))), 4.5))
    w = 0.8 / max(1, len(methods))
    cmap = plt.get_cmap("tab10")
    for j, m in enumerate(methods):
        xs, ys, es = [], [], []
        for i, k in enumerate(keys):
            r = t[(t["dataset"] == k[0]) & (t["topology"] == k[1]) & (t["method"] == m)]
            if len(r):
                xs.append(i + (j - (len(methods) - 1) / 2) * w)
                ys.append(r["test_mean"].iloc[0])
                es.append(r["test_ci95"].iloc[0])
        ax.bar(xs, ys, w, yerr=es, capsize=2, label=m, color=cmap(j % 10), hatch="" if is_bdnn(m) else "//")
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([f"{d}\n{tp}" for d, tp in keys], fontsize=8)
    ax.set_ylabel("test accuracy (mean ± 95% CI)")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    ax.set_title("Paper B: BDNN (MIP, plain bars) vs DNN and references (hatched)", fontsize=10)
    fig.tight_layout()
    save(fig, path)


def plot_sizes(df: pd.DataFrame, series: list[str], path: str | os.PathLike) -> pd.DataFrame:
    """Runtime (log scale) and test accuracy against ``n_train`` for the datasets in ``series``
    (the same data at several training sizes); one line per method. Returns the plotted means."""
    plt = pyplot()
    d = df[df["dataset"].isin(series)].copy()
    if d.empty or "n_train" not in d:
        raise QbnnError(f"no runs with n_train on the size series {series}")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    out = []
    for m, part in d.groupby("method", sort=True):
        acc = _mean_ci(part.groupby("n_train"), "test_accuracy")
        sec = part.groupby("n_train")["seconds"].mean()
        style = "-o" if is_bdnn(m) else "--s"
        axes[0].plot(sec.index, sec.to_numpy(), style, label=m)
        axes[1].errorbar(acc["n_train"], acc["mean"], yerr=acc["ci95"], fmt=style, capsize=2, label=m)
        out.append(acc.assign(method=m, seconds=sec.to_numpy()))
    axes[0].set_yscale("log")
    axes[0].set_ylabel("wall seconds per run (mean)")
    axes[1].set_ylabel("test accuracy (mean ± 95% CI)")
    axes[1].set_ylim(0, 1.02)
    for ax in axes:
        ax.set_xlabel("training samples")
        ax.legend(fontsize=7)
    fig.suptitle(f"Paper B: runtime and accuracy vs training size ({', '.join(series)})", fontsize=10)
    fig.tight_layout()
    save(fig, path)
    return pd.concat(out, ignore_index=True)


def attack_columns(df: pd.DataFrame, kind: str = "attack") -> dict[float, str]:
    pre = f"{kind}_accuracy_e"
    return dict(sorted((float(c[len(pre):]), c) for c in df.columns if c.startswith(pre)))


def plot_robust(df: pd.DataFrame, path: str | os.PathLike) -> pd.DataFrame:
    """Test accuracy under random-sign attacks of size eps per method (mean over seeds), one
    panel per (dataset, topology) that has attack results; dashed: certified first-layer bound."""
    plt = pyplot()
    att, cert = attack_columns(df), attack_columns(df, "certified")
    if not att:
        raise QbnnError("no attack results in the metrics (robust MIP runs or dnn baselines report them)")
    d = df.dropna(subset=[next(iter(att.values()))])
    # panels where a BDNN was attacked (DNN baselines report attacks everywhere)
    keys = list(dict.fromkeys(zip(d.loc[d["method"].map(is_bdnn), "dataset"], d.loc[d["method"].map(is_bdnn), "topology"])))
    if not keys:
        raise QbnnError("no MIP run with attack results (set mip_settings attack or robust)")
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 4), squeeze=False)
    rows = []
    for ax, (ds, topo) in zip(axes[0], keys):
        part = d[(d["dataset"] == ds) & (d["topology"] == topo)]
        for i, (m, g) in enumerate(part.groupby("method", sort=True)):
            color = plt.get_cmap("tab10")(i % 10)
            eps = list(att)
            ys = [g[att[e]].mean() for e in eps]
            ax.plot(eps, ys, "-o", color=color, label=f"{m} (random-sign attack)")
            row = {"dataset": ds, "topology": topo, "method": m, "n": len(g),
                   **{f"attack_e{e:g}": y for e, y in zip(eps, ys)}}
            if cert and g[list(cert.values())].notna().all().all():
                cs = [g[cert[e]].mean() for e in cert]
                ax.plot(list(cert), cs, "--", color=color, label=f"{m} (certified, first layer)")
                row.update({f"certified_e{e:g}": c for e, c in zip(cert, cs)})
            rows.append(row)
        ax.set_xlabel("attack size ε (ℓ∞)")
        ax.set_ylabel("test accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{ds} / {topo}", fontsize=9)
        ax.legend(fontsize=6)
    fig.suptitle("Paper B: accuracy under attack (robust BDNN, plain BDNN, DNN)", fontsize=10)
    fig.tight_layout()
    save(fig, path)
    return pd.DataFrame(rows)


def split_histories(paths) -> pd.DataFrame:
    """Per-split records of MIP split networks: identity (dataset, topology, method, seed), training size
    and history from each network file."""
    rows = []
    for p in paths:
        net = MIPNetwork.load(p)
        hist = net.info_.get("history")
        if not hist:
            continue
        ident, n_train = net.identity, net.info_.get("n_train")
        for e in hist:
            rows.append({"network": str(p), "dataset": ident.dataset or "", "topology": ident.topology or "",
                         "method": ident.method or f"mip_{net.method}", "seed": ident.seed,
                         "split": e["split"], "train_loss": e["train_loss"], "val_accuracy": e["val_accuracy"],
                         "train_error_rate": e["train_loss"] / n_train if n_train else np.nan,
                         "seconds": e["seconds"], "status": e["status"]})
    if not rows:
        raise QbnnError("no split histories in the given networks (train-mip --method split saves them)")
    return pd.DataFrame(rows)


def plot_splits(h: pd.DataFrame, path: str | os.PathLike) -> None:
    """Per (dataset, topology, variant): training loss per sample (solid) and validation accuracy
    (dashed) against the split index, one colour per seed; the kept split marked."""
    plt = pyplot()
    keys = list(dict.fromkeys(zip(h["dataset"], h["topology"], h["method"])))
    cols = min(3, len(keys))
    nrows = -(-len(keys) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.5 * cols, 3.3 * nrows), squeeze=False)
    for ax, key in zip(axes.ravel(), keys):
        part = h[(h["dataset"] == key[0]) & (h["topology"] == key[1]) & (h["method"] == key[2])]
        for i, (net, g) in enumerate(part.groupby("network", sort=True)):
            c = plt.get_cmap("tab10")(i % 10)
            ax.plot(g["split"], g["train_error_rate"], "-", color=c, label=f"seed {g['seed'].iloc[0]}: train loss / n")
            ax.plot(g["split"], g["val_accuracy"], "--", color=c, label="validation acc")
            best = g.loc[g["val_accuracy"].idxmax()]
            ax.plot([best["split"]], [best["val_accuracy"]], "*", color=c, ms=9)
        ax.set_title(" / ".join(map(str, key)), fontsize=8)
        ax.set_xlabel("split")
        ax.set_ylim(-0.02, max(1.02, float(part["train_error_rate"].max()) + 0.02))
        ax.legend(fontsize=5)
    for ax in axes.ravel()[len(keys):]:
        ax.axis("off")
    fig.suptitle("Paper B: data splitting, training loss per sample (solid; Hamming over the outputs with > 1 output) "
                 "and validation accuracy (dashed); * = kept",
                 fontsize=9)
    fig.tight_layout()
    save(fig, path)
