"""Paper figures from the workflow's files: energy traces, weight images, margin histograms, dropout rounds.

Every ``plot_*`` function writes one PNG atomically and returns the data drawn (so tests can check
the figure against its inputs); an empty input list draws a labelled placeholder instead of failing,
since a grid may lack e.g. dropout runs.
"""
from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import pandas as pd

from qbnn.errors import QbnnError
from qbnn.evaluate import MARGIN_EDGES, forward_parts
from qbnn.figures.style import placeholder, pyplot, save
from qbnn.identity import Identity
from qbnn.report import MIN_RUNS_FOR_INTERVAL, accuracy_stats, clipped_yerr
from qbnn.run_metrics import RunMetrics
from qbnn.solution import Solution
from qbnn.topology import Network


def run_info(identity: Identity, fallback: str) -> dict[str, Any]:
    """The fields a figure groups and labels a run by, from its record's identity.

    Returns ``dataset, topology, margin (float|nan), dropout (bool), exp, solver, seed (int|-1), label``;
    ``label`` names the run (``fallback``, e.g. the file name, only when the record has no λ, solver or seed).
    """
    out = {"dataset": identity.dataset or "", "topology": identity.topology or "",
           "margin": math.nan if identity.margin is None else identity.margin, "dropout": bool(identity.dropout),
           "exp": identity.dropout_exp or "", "solver": identity.solver or "",
           "seed": -1 if identity.seed is None else identity.seed}
    parts = [f"λ={out['margin']:g}" if identity.margin is not None else "", "+dropout" if out["dropout"] else "",
             out["solver"], f"s{out['seed']}" if identity.seed is not None else ""]
    out["label"] = " ".join(p for p in parts if p) or fallback
    return out


def qubo_title(dataset: str, topology: str, margin: float | None, exp: str) -> str:
    """``dataset/topology λ=… +dropout exp``: the parts the records know (no "λ=nan")."""
    head = "/".join(p for p in (dataset, topology) if p) or "unlabelled runs"
    return (f"{head}{'' if margin is None or math.isnan(margin) else f' λ={margin:g}'}"
            f"{' +dropout ' + exp if exp else ''}")


# ------------------------------------------------------------------ energy traces
def load_trace(path: str | os.PathLike) -> dict[str, Any]:
    """Best-energy trace of a solution HDF5: ``steps``, ``seconds``, ``energy`` (float64 ``(T,)``), ``total_seconds``.

    Generic Ising solvers record the raw QUBO energy of improving states; the BNN strategies record
    the objective ``F(w) = E(repair(w))`` -- the same units, so both share one axis.
    """
    sol = Solution.load(path, need_trace=True)
    tr, attrs = sol.trace, sol.attrs
    info = run_info(sol.identity, os.path.basename(path))
    total = float(attrs.get("seconds", tr[-1, 1] if len(tr) else 0.0))
    best = float(attrs.get("best_energy", tr[-1, 2] if len(tr) else math.nan))
    return {**info, "steps": tr[:, 0], "seconds": tr[:, 1], "energy": tr[:, 2],
            "total_seconds": total, "best_energy": best, "path": str(path)}


def plot_energy_traces(paths: list[str | os.PathLike], out: str | os.PathLike) -> list[dict[str, Any]]:
    """Best energy vs wall time, one panel per QUBO (dataset/topology/λ/dropout), one colour per solver.

    Returns the loaded traces (see :func:`load_trace`).
    """
    traces = [load_trace(p) for p in paths]
    if not traces:
        placeholder(out, "no solver runs")
        return traces
    plt = pyplot()
    def key(t):  # one QUBO per key (None: the record names no λ)
        return t["dataset"], t["topology"], None if math.isnan(t["margin"]) else t["margin"], t["exp"]

    panels = sorted({key(t) for t in traces}, key=str)
    solvers = sorted({t["solver"] or t["label"] for t in traces})
    colours = {s: plt.cm.tab10(i % 10) for i, s in enumerate(solvers)}
    ncol = min(3, len(panels))
    nrow = math.ceil(len(panels) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.4 * nrow), squeeze=False)
    for ax, pk in zip(axes.ravel(), panels):
        seen = set()
        for t in (t for t in traces if key(t) == pk):
            s = t["solver"] or t["label"]
            if not len(t["energy"]):
                continue
            x = np.append(np.maximum(t["seconds"], 1e-3), max(t["total_seconds"], t["seconds"][-1], 1e-3))
            y = np.append(t["energy"], t["energy"][-1])
            ax.step(x, y, where="post", color=colours[s], alpha=0.8, lw=1.2, label=None if s in seen else s)
            seen.add(s)
        ax.set_xscale("log")
        es = np.concatenate([t["energy"] for t in traces if key(t) == pk] or [np.zeros(1)])
        if es.max() - es.min() > 100:  # raw energies of early generic-solver states dwarf the final ones
            ax.set_yscale("symlog", linthresh=1.0)
            ax.set_ylim(es.min() - 0.2 * abs(es.min()) - 1, es.max() + 0.5 * abs(es.max()) + 1)
        ax.set_xlabel("wall time (s)")
        ax.set_ylabel("best energy")
        ax.set_title(qubo_title(*pk), fontsize=9)
        ax.legend(fontsize=7)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    save(fig, out)
    return traces


# ------------------------------------------------------------------ weight images
def image_shape_of(data_attrs: dict | None, n_inputs: int) -> tuple[int, int]:
    """Image (rows, cols) from the dataset's ``image_shape`` attribute, else the square root, else one row."""
    s = (data_attrs or {}).get("image_shape")
    if s is not None and len(s) == 2 and int(s[0]) * int(s[1]) == n_inputs:
        return int(s[0]), int(s[1])
    r = math.isqrt(n_inputs)
    return (r, r) if r * r == n_inputs else (1, n_inputs)


def first_layer_images(network, shape: tuple[int, int]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Input weights of every neuron fed by input pixels, as images.

    Returns ``names``, int8 ``(n, rows, cols)`` images (pixel = weight ±1 where the pixel is an input
    of that neuron, 0 where it is not) and the neurons' biases int8 ``(n,)`` (0 without bias).
    """
    t = network.topology
    d = t.n_inputs
    if shape[0] * shape[1] != d:
        raise QbnnError(f"image shape {shape} does not match the network's {d} inputs")
    names, imgs, biases = [], [], []
    for k, src in enumerate(t.sources):
        src = np.asarray(src)
        pix = src < d
        if not pix.any():
            continue
        w = network.weights[t.weight_slice(k)]
        img = np.zeros(d, dtype=np.int8)
        img[src[pix]] = w[: len(src)][pix]
        names.append(t.names[k])
        imgs.append(img.reshape(shape))
        biases.append(int(w[-1]) if t.bias[k] else 0)
    return names, np.array(imgs, dtype=np.int8).reshape(-1, *shape), np.array(biases, dtype=np.int8)


def plot_weight_images(paths: list[str | os.PathLike], out: str | os.PathLike,
                       data_attrs: dict[str, dict] | None = None) -> list[dict[str, Any]]:
    """One row per network, one panel per first-layer neuron (white +1, black -1, grey: not connected).

    ``data_attrs`` maps dataset name -> dataset attributes (for ``image_shape``). Returns per network
    ``label``, ``names``, ``images`` and ``biases`` as drawn.
    """
    rows = []
    for p in paths:
        net = Network.load(p)
        info = run_info(net.identity, os.path.basename(p))
        attrs = (data_attrs or {}).get(info["dataset"])
        if attrs is None and data_attrs and len(data_attrs) == 1:  # one dataset: the networks' own
            attrs = next(iter(data_attrs.values()))
        shape = image_shape_of(attrs, net.topology.n_inputs)
        names, imgs, biases = first_layer_images(net, shape)
        rows.append({**info, "names": names, "images": imgs, "biases": biases, "path": str(p)})
    if not rows or not any(len(r["names"]) for r in rows):
        placeholder(out, "no networks with input-fed neurons")
        return rows
    plt = pyplot()
    ncol = max(len(r["names"]) for r in rows)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(1.1 * ncol + 2.2, 1.2 * len(rows) + 0.4), squeeze=False)
    for i, r in enumerate(rows):
        for j in range(ncol):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(r["names"]):
                ax.axis("off")
                continue
            ax.imshow(r["images"][j], cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
            ax.set_title(f"{r['names'][j]} b={r['biases'][j]:+d}", fontsize=7)
        axes[i, 0].set_ylabel(f"{r['dataset']}/{r['topology']}\n{r['label']}", rotation=0, ha="right",
                              va="center", fontsize=7)
    fig.tight_layout()
    save(fig, out)
    return rows


# ------------------------------------------------------------------ margin histograms
def normalised_margins(network, X: np.ndarray) -> dict[str, np.ndarray]:
    """``|z_j| / fan_in(j)`` on samples ``X``: ``hidden`` ``(S, H)`` and ``output`` ``(S, O)`` float64."""
    Z, _, fan, hidden, out = forward_parts(network, X)
    M = np.abs(Z) / fan[None, :]
    return {"hidden": M[:, hidden], "output": M[:, out]}


def plot_margin_histograms(paths: list[str | os.PathLike], out: str | os.PathLike,
                           data: dict[str, np.ndarray]) -> pd.DataFrame:
    """Histograms of ``|z|/fan_in`` on the training data, pooled over the networks of each λ.

    ``data`` maps dataset name -> training ``X`` (``(S, d)`` ±1). One row of panels per
    (dataset, topology, dropout), hidden and output neurons side by side, one line per λ (fractions).
    Returns the raw counts: columns ``dataset, topology, dropout, margin, layer, networks, bin_lo,
    bin_hi, count`` (each group's counts sum to samples × neurons × networks).
    """
    recs = []
    for p in paths:
        net = Network.load(p)
        info = run_info(net.identity, os.path.basename(p))
        if math.isnan(info["margin"]):
            info["margin"] = float(net.metadata.get("margin", math.nan))
        X = data.get(info["dataset"])
        if X is None:
            if len(data) != 1:
                raise QbnnError(f"no training data for dataset {info['dataset']!r} of network {p}")
            X = next(iter(data.values()))
        for layer, M in normalised_margins(net, X).items():
            counts, _ = np.histogram(M.ravel(), bins=MARGIN_EDGES)
            recs.append({k: info[k] for k in ("dataset", "topology", "dropout", "margin")} | {"layer": layer, "counts": counts})
    rows = []
    for key, grp in pd.DataFrame(recs).groupby(["dataset", "topology", "dropout", "margin", "layer"], sort=True) if recs else []:
        total = np.sum(np.stack(grp["counts"].to_list()), axis=0)
        for lo, hi, c in zip(MARGIN_EDGES[:-1], MARGIN_EDGES[1:], total):
            rows.append(dict(zip(("dataset", "topology", "dropout", "margin", "layer"), key),
                             networks=len(grp), bin_lo=lo, bin_hi=hi, count=int(c)))
    table = pd.DataFrame(rows, columns=["dataset", "topology", "dropout", "margin", "layer", "networks",
                                        "bin_lo", "bin_hi", "count"])
    if table.empty:
        placeholder(out, "no networks")
        return table
    plt = pyplot()
    panels = sorted({(r.dataset, r.topology, r.dropout) for r in table.itertuples()})
    fig, axes = plt.subplots(len(panels), 2, figsize=(9, 3.0 * len(panels)), squeeze=False)
    centres = (MARGIN_EDGES[:-1] + MARGIN_EDGES[1:]) / 2
    for i, (ds, topo, dr) in enumerate(panels):
        for j, layer in enumerate(("hidden", "output")):
            ax = axes[i, j]
            sub = table[(table.dataset == ds) & (table.topology == topo) & (table.dropout == dr) & (table.layer == layer)]
            for margin, g in sub.groupby("margin", sort=True):
                c = g["count"].to_numpy(dtype=np.float64)
                ax.step(centres, c / max(c.sum(), 1), where="mid", label=f"λ={margin:g} ({g['networks'].iloc[0]} nets)")
            ax.set_xlabel("|z| / fan-in (training data)")
            ax.set_ylabel("fraction")
            ax.set_title(f"{ds}/{topo}{' +dropout' if dr else ''}: {layer} neurons", fontsize=9)
            if len(sub):
                ax.legend(fontsize=7)
    fig.tight_layout()
    save(fig, out)
    return table


# ------------------------------------------------------------------ dropout rounds
def dropout_rounds_table(round_files: list[str | os.PathLike], metrics: pd.DataFrame,
                         n_rounds: dict[str, int]) -> pd.DataFrame:
    """Accuracy after 0..R rounds of dropout penalties, one row per (exp, margin, seed, rounds).

    * ``rounds = 0``: the plain QUBO run (same dataset, topology, solver, λ, seed) from ``metrics``;
    * ``rounds = r + 1`` for ``r < R - 1``: ``round_files`` -- evaluate JSONs of the full QUBO with
      round ``r``'s penalties, whose identity names ``dropout_exp, dataset, topology, solver, margin, seed``
      and ``dropout_round = r``;
    * ``rounds = R``: the experiment's ``qubo+dropout`` run from ``metrics`` (round ``R - 1``'s penalties).

    ``metrics`` is :func:`qbnn.report.load_metrics`'s table; ``n_rounds`` maps experiment -> R.
    """
    cols = ["exp", "dataset", "topology", "solver", "margin", "seed", "rounds", "train_accuracy", "test_accuracy"]
    rows = []
    solver_of: dict[str, str] = {}
    for p in round_files:
        rec = RunMetrics.load(p, ("test_accuracy",))
        ident = rec.identity
        missing = ident.missing(("dataset", "topology", "dropout_exp", "margin", "seed", "solver", "dropout_round"))
        if missing:
            raise QbnnError(f"dropout round file {p} lacks identity field(s) {', '.join(missing)}")
        solver_of[ident.dropout_exp] = ident.solver
        rows.append({"exp": ident.dropout_exp, "dataset": ident.dataset, "topology": ident.topology,
                     "solver": ident.solver, "margin": ident.margin, "seed": ident.seed,
                     "rounds": ident.dropout_round + 1, "train_accuracy": rec.values.get("train_accuracy"),
                     "test_accuracy": rec.values["test_accuracy"]})
    qubo = metrics[metrics["method"].astype(str).str.startswith("qubo")] if "method" in metrics else metrics.iloc[0:0]
    for col, default in (("dropout_exp", ""), ("dropout", False), ("solver", "")):
        if col not in qubo.columns:
            qubo = qubo.assign(**{col: default})
    qubo = qubo.assign(dropout_exp=qubo["dropout_exp"].fillna(""), dropout=qubo["dropout"].fillna(False).astype(bool))
    keys = ["dataset", "topology", "solver", "margin", "seed"]
    for exp, R in n_rounds.items():
        fin = qubo[qubo["dropout_exp"] == exp]
        if exp in solver_of:
            fin = fin[fin["solver"] == solver_of[exp]]
        fin = fin.assign(exp=exp, rounds=int(R))
        plain = qubo[~qubo["dropout"]].merge(fin[keys].drop_duplicates(), on=keys).assign(exp=exp, rounds=0)
        rows += fin[cols].to_dict("records") + plain[cols].to_dict("records")
    table = pd.DataFrame(rows, columns=cols)
    return table.sort_values(["exp", "margin", "seed", "rounds"]).reset_index(drop=True)


def plot_dropout_rounds(table: pd.DataFrame, out: str | os.PathLike) -> pd.DataFrame:
    """Test (solid) and train (dashed) accuracy vs dropout rounds, mean ± 95% CI over seeds (clipped to [0, 1];
    with fewer than MIN_RUNS_FOR_INTERVAL seeds the test accuracies of the seeds as points instead), one panel
    per experiment, one colour per λ. Returns the plotted means (``exp, margin, rounds, n, *_mean, *_ci95``)."""
    if table.empty:
        placeholder(out, "no dropout runs")
        return table
    stats = accuracy_stats(table.groupby(["exp", "margin", "rounds"], sort=True))
    stats["n"] = stats["test_accuracy_count"]
    plt = pyplot()
    exps = sorted(stats["exp"].unique())
    fig, axes = plt.subplots(1, len(exps), figsize=(4.8 * len(exps), 3.6), squeeze=False)
    for ax, exp in zip(axes[0], exps):
        for i, (margin, s) in enumerate(stats[stats["exp"] == exp].groupby("margin", sort=True)):
            colour = plt.cm.tab10(i % 10)
            few = (s["n"] < MIN_RUNS_FOR_INTERVAL).to_numpy()
            ci = np.where(few, 0.0, s["test_accuracy_ci95"])
            ax.errorbar(s["rounds"], s["test_accuracy_mean"], yerr=clipped_yerr(s["test_accuracy_mean"], ci),
                        color=colour, marker="o", capsize=3, label=f"test λ={margin:g}")
            runs = table[(table["exp"] == exp) & (table["margin"] == margin) & table["rounds"].isin(s["rounds"][few])]
            ax.plot(runs["rounds"], runs["test_accuracy"], "x", color=colour, ms=5)
            ax.plot(s["rounds"], s["train_accuracy_mean"], color=colour, ls="--", marker=".", label=f"train λ={margin:g}")
        ax.set_xlabel("dropout rounds applied (0 = plain QUBO)")
        ax.set_ylabel("accuracy")
        ax.set_ylim(0, 1)
        ax.set_title(exp, fontsize=9)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    save(fig, out)
    return stats
