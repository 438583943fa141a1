"""Benchmark: exact MILP vs data splitting vs local search (Kurtz & Bah datasets).

For every (dataset, m, seed) the three methods run back to back in one process (interleaved,
same load), HiGHS with one thread.  Wall seconds and process CPU seconds are both recorded
(the machine is shared; CPU seconds are the load-independent measure).  Hidden width 3.

    python benchmarks/mip.py run --suite planted10 --out benchmarks/out/mip_planted10.csv
    python benchmarks/mip.py summarise benchmarks/out/mip_*.csv   # -> mip.csv, mip_summary.csv, mip.png

Suites: planted10 / planted100 (uniform features in [-10, 10], labels from a planted
[d, 3, 1] network), breast_cancer, digits_3v8 (sklearn, features scaled to [-1, 1]), all
with a [d, 3, 1] network; digits10 (all ten classes, [64, 5, 10], Hamming loss, argmax).
"""
from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import numpy as np

from qbnn.io import atomic_output
from qbnn.mip import MIPNetwork
from qbnn.mip.datasets import load, planted

OUT = Path(__file__).parent / "out"
# suite -> (dataset, d, [(m, n_seeds)], n_test)
SUITES = {
    "planted10": ("planted", 10, [(25, 3), (50, 3), (100, 3), (200, 3), (1000, 1)], 1000),
    "planted100": ("planted", 100, [(50, 3), (200, 2), (1000, 1)], 1000),
    "breast_cancer": ("breast_cancer", 30, [(50, 3), (100, 3), (200, 3), (400, 2)], 150),
    "digits_3v8": ("digits_3v8", 64, [(50, 3), (100, 3), (200, 3)], 150),
    "digits10": ("digits", 64, [(50, 2), (100, 2), (200, 1)], 300),  # 10 classes, [64, 5, 10]
}
LAYERS_TAIL = {"digits10": [5, 10]}  # hidden widths + outputs; default [3, 1]
METHODS = ("exact", "split", "local")


def _data(name, d, m, n_test, seed):
    if name == "planted":
        return planted(n_train=m, n_test=n_test, layers=[d, 3, 1], seed=seed)
    return load(name, n_train=m, n_test=n_test, seed=seed)


def run(a):
    name, d, sizes, n_test = SUITES[a.suite]
    if a.sizes:
        sizes = [(m, s) for m, s in sizes if m in a.sizes]
    rows = []
    for m, n_seeds in sizes:
        for seed in range(min(n_seeds, a.max_seeds)):
            X, y, Xte, yte = _data(name, d, m, n_test, seed)
            layers = [X.shape[1], *LAYERS_TAIL.get(a.suite, [3, 1])]
            for method in METHODS:
                load1 = os.getloadavg()[0]
                w, c = time.perf_counter(), time.process_time()
                net = MIPNetwork(layers, method, time_limit=a.time_limit, seed=seed, threads=1,
                                 max_splits=a.max_splits, solve_limit=a.time_limit / 10).fit(X, y)
                wall, cpu = time.perf_counter() - w, time.process_time() - c
                i = net.info_
                rows.append({"dataset": a.suite, "d": X.shape[1], "m": m, "seed": seed, "method": method,
                             "seconds": round(wall, 3), "cpu_seconds": round(cpu, 3),
                             "train_accuracy": round(net.score(X, y), 4),
                             "test_accuracy": round(net.score(Xte, yte), 4),
                             "objective": i["objective"], "bound": i.get("bound"),
                             "mip_gap": None if i.get("mip_gap") is None else round(i["mip_gap"], 4),
                             "status": i["status"], "n_binaries": i.get("n_binaries"),
                             "n_solves": i.get("n_solves", 1 if method == "exact" else ""),
                             "time_limit": a.time_limit, "load1": round(load1, 2)})
                print(rows[-1], flush=True)
                _write(a.out, rows)  # after every run: a cut-off session keeps what it measured


def _write(path, rows):
    with atomic_output(path, suffix=".csv") as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


def _read(paths):
    rows = []
    for p in paths:
        with open(p) as f:
            rows += list(csv.DictReader(f))
    # a cell re-run in a later part (e.g. after a crash) replaces the earlier rows: keep the last
    rows = list({(r["dataset"], r["m"], r["seed"], r["method"]): r for r in rows}.values())
    for r in rows:
        for k in ("seconds", "cpu_seconds", "train_accuracy", "test_accuracy"):
            r[k] = float(r[k])
        r["m"], r["d"] = int(r["m"]), int(r["d"])
    return rows


def summarise(a):
    rows = _read(a.parts)
    _write(OUT / "mip.csv", rows)
    keys = sorted({(r["dataset"], r["m"], r["d"]) for r in rows})
    summary = []
    for ds, m, d in keys:
        cell = {meth: [r for r in rows if (r["dataset"], r["m"], r["method"]) == (ds, m, meth)] for meth in METHODS}
        if not all(cell.values()):
            continue
        mean = {meth: {k: float(np.mean([r[k] for r in rs])) for k in
                       ("seconds", "cpu_seconds", "train_accuracy", "test_accuracy")} for meth, rs in cell.items()}
        ex = cell["exact"]
        finished = all(r["status"] == "Optimal" for r in ex)
        gaps = [float(r["mip_gap"]) for r in ex if r["mip_gap"] not in ("", None)]
        speed = mean["exact"]["cpu_seconds"] / max(mean["split"]["cpu_seconds"], 1e-9)
        dacc = 100 * (mean["exact"]["test_accuracy"] - mean["split"]["test_accuracy"])
        for meth in METHODS:
            summary.append({"dataset": ds, "m": m, "d": d, "method": meth, "seeds": len(cell[meth]),
                            **{k: round(v, 4) for k, v in mean[meth].items()},
                            "status": "/".join(sorted({r["status"] for r in cell[meth]})),
                            "max_gap": round(max(gaps), 4) if meth == "exact" and gaps else "",
                            "exact_finished": finished,
                            "split_speedup_cpu": round(speed, 2) if meth == "split" else "",
                            "split_speedup_wall": round(mean["exact"]["seconds"] / max(mean["split"]["seconds"], 1e-9), 2)
                            if meth == "split" else "",
                            "split_test_acc_drop_pts": round(dacc, 2) if meth == "split" else "",
                            "target_met": (finished and speed >= 10 and dacc <= 2) if meth == "split" else ""})
    _write(OUT / "mip_summary.csv", summary)
    _markdown(summary, rows)
    _plot(summary)


def _markdown(summary, rows):
    """mip_summary.md: the per-cell table (means over seeds) and the growth exponents."""
    lines = ["| dataset | m | d | method | seeds | wall s | CPU s | train acc | test acc | status (max gap) "
             "| split speed-up CPU / wall | split test drop (pts) | target |", "|" + "---|" * 13]
    for s in summary:
        st = s["status"] + (f" ({s['max_gap']})" if s["max_gap"] != "" else "")
        sp = f"{s['split_speedup_cpu']} / {s['split_speedup_wall']}" if s["method"] == "split" else ""
        tgt = ("met" if s["target_met"] else ("not met" if s["exact_finished"] else "exact hit limit")) \
            if s["method"] == "split" else ""
        lines.append(f"| {s['dataset']} | {s['m']} | {s['d']} | {s['method']} | {s['seeds']} | {s['seconds']:.2f} "
                     f"| {s['cpu_seconds']:.2f} | {s['train_accuracy']:.3f} | {s['test_accuracy']:.3f} | {st} | {sp} "
                     f"| {s['split_test_acc_drop_pts']} | {tgt} |")
    lines += ["", "Growth of CPU seconds with m (least-squares slope of log CPU s vs log m over the sizes run; "
              "exact: only sizes where every seed finished):", ""]
    for ds in sorted({s["dataset"] for s in summary}):
        for meth in METHODS:
            pts = [(s["m"], s["cpu_seconds"]) for s in summary if s["dataset"] == ds and s["method"] == meth
                   and (meth != "exact" or s["exact_finished"])]
            if len(pts) >= 2:
                k = np.polyfit(np.log([p[0] for p in pts]), np.log([max(p[1], 1e-3) for p in pts]), 1)[0]
                lines.append(f"* {ds} {meth}: CPU s ~ m^{k:.2f} over m = {', '.join(str(p[0]) for p in pts)}")
    lines += ["", "Per seed, where that seed's exact MILP finished (Optimal): split speed-up (CPU) and test "
              "accuracy drop in points (exact - split); target = >= 10x and <= 2 points:", ""]
    for r in rows:
        if r["method"] != "exact" or r["status"] != "Optimal":
            continue
        sp = next(q for q in rows if (q["dataset"], q["m"], q["seed"], q["method"]) ==
                  (r["dataset"], r["m"], r["seed"], "split"))
        f, drop = r["cpu_seconds"] / max(sp["cpu_seconds"], 1e-9), 100 * (r["test_accuracy"] - sp["test_accuracy"])
        lines.append(f"* {r['dataset']} m={r['m']} seed {r['seed']}: {f:.1f}x, {drop:+.1f} pts -> "
                     f"{'met' if f >= 10 and drop <= 2 else 'not met'}")
    loads = [float(r["load1"]) for r in rows]
    lines += ["", f"1-min load average during the runs: {min(loads):.1f}-{max(loads):.1f} (2 cores)."]
    with atomic_output(OUT / "mip_summary.md", suffix=".md") as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _plot(summary):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ds_list = sorted({s["dataset"] for s in summary})
    fig, axes = plt.subplots(2, len(ds_list), figsize=(4 * len(ds_list), 7), squeeze=False)
    for j, ds in enumerate(ds_list):
        for meth, mk in zip(METHODS, "osd"):
            pts = sorted((s["m"], s["cpu_seconds"], s["test_accuracy"]) for s in summary
                         if s["dataset"] == ds and s["method"] == meth)
            m, sec, acc = zip(*pts)
            axes[0, j].loglog(m, sec, marker=mk, label=meth)
            axes[1, j].semilogx(m, acc, marker=mk, label=meth)
        hit = [(s["m"], s["cpu_seconds"]) for s in summary
               if s["dataset"] == ds and s["method"] == "exact" and not s["exact_finished"]]
        if hit:  # exact stopped by the 120 s wall limit in >= 1 seed: time is a floor, not a solve time
            axes[0, j].scatter(*zip(*hit), marker="x", s=80, c="red", zorder=5, label="exact hit limit")
        axes[0, j].set_title(ds)
        axes[0, j].set_ylabel("CPU seconds (mean over seeds)")
        axes[1, j].set_ylabel("test accuracy")
        axes[1, j].set_xlabel("training samples m")
        axes[0, j].legend(fontsize=8)
    fig.tight_layout()
    with atomic_output(OUT / "mip.png", suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")


def main(argv=None):
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--suite", choices=sorted(SUITES), required=True)
    r.add_argument("--time-limit", type=float, default=120.0)
    r.add_argument("--max-splits", type=int, default=30)
    r.add_argument("--max-seeds", type=int, default=3)
    r.add_argument("--sizes", type=int, nargs="*", help="only these m of the suite")
    r.add_argument("--out", required=True)
    s = sub.add_parser("summarise")
    s.add_argument("parts", nargs="+")
    a = ap.parse_args(argv)
    run(a) if a.cmd == "run" else summarise(a)


if __name__ == "__main__":
    main()
