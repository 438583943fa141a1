"""Benchmark: the robust MILP (l_inf radius rho on the first layer) against plain training.

Kurtz & Bah's robustness experiment on the paper's planted data (uniform features in
[-10, 10], labels from a planted [d, 3, 1] network): train with rho in {0, 0.5, 1} by each
method, then measure test accuracy under random sign perturbations x + eps*s, s in
{-1, 1}^d, for eps in {0, 0.5, 1, 1.5, 2} (5 draws each), and the certified accuracy
(correct and every first-layer activation constant on the whole ball) at each eps.

    python benchmarks/mip_robust.py run --out benchmarks/out/mip_robust.csv
    python benchmarks/mip_robust.py summarise benchmarks/out/mip_robust.csv  # -> mip_robust.md
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from qbnn.io import atomic_output
from qbnn.mip import MIPNetwork
from qbnn.mip.datasets import planted
from qbnn.mip.robust import EPSILONS, random_sign_accuracy, worst_case_first_layer_accuracy

METHODS = ("exact", "split", "local")


def run(a):
    rows = []
    for seed in range(a.seeds):
        X, y, Xte, yte = planted(n_train=a.m, n_test=a.n_test, layers=[a.d, 3, 1], seed=seed)
        for rho in a.rhos:
            for method in METHODS:
                w, c = time.perf_counter(), time.process_time()
                net = MIPNetwork([a.d, 3, 1], method, rho=rho, time_limit=a.time_limit, seed=seed, threads=1,
                                 solve_limit=a.time_limit / 10).fit(X, y)
                wall, cpu = time.perf_counter() - w, time.process_time() - c
                Ws, bs = net.weights_, net.biases_
                noisy = random_sign_accuracy(Ws, bs, Xte, yte, seed=seed)
                row = {"d": a.d, "m": a.m, "seed": seed, "rho": rho, "method": method,
                       "seconds": round(wall, 3), "cpu_seconds": round(cpu, 3),
                       "status": net.info_["status"], "mip_gap": net.info_.get("mip_gap"),
                       "train_accuracy": round(net.score(X, y), 4)}
                for e in EPSILONS:
                    row[f"acc_eps{e}"] = round(noisy[e], 4)
                    row[f"certified_eps{e}"] = round(worst_case_first_layer_accuracy(Ws, bs, Xte, yte, e), 4)
                rows.append(row)
                print(row, flush=True)
                _write(a.out, rows)  # after every run: a cut-off session keeps what it measured


def _write(path, rows, fields=None):
    with atomic_output(path, suffix=Path(path).suffix or ".csv") as tmp:
        with open(tmp, "w", newline="") as f:
            wr = csv.DictWriter(f, fieldnames=fields or list(rows[0]))
            wr.writeheader()
            wr.writerows(rows)


def summarise(a):
    with open(a.csv) as f:
        rows = list(csv.DictReader(f))
    cols = ["seconds", "train_accuracy"] + [f"acc_eps{e}" for e in EPSILONS] + [f"certified_eps{e}" for e in EPSILONS]
    head = ("| method | rho | seeds | wall s | train acc | " + " | ".join(f"acc ε={e}" for e in EPSILONS)
            + " | " + " | ".join(f"cert ε={e}" for e in EPSILONS) + " | status |")
    lines = [head, "|" + "---|" * (len(cols) + 4)]
    for method in METHODS:
        for rho in sorted({float(r["rho"]) for r in rows}):
            cell = [r for r in rows if r["method"] == method and float(r["rho"]) == rho]
            if not cell:
                continue
            mean = [np.mean([float(r[c]) for r in cell]) for c in cols]
            st = "/".join(sorted({r["status"] for r in cell}))
            lines.append(f"| {method} | {rho:g} | {len(cell)} | {mean[0]:.2f} | "
                         + " | ".join(f"{v:.3f}" for v in mean[1:]) + f" | {st} |")
    out = Path(a.csv).with_suffix(".md")
    with atomic_output(out, suffix=".md") as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv=None):
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--d", type=int, default=10)
    r.add_argument("--m", type=int, default=50)
    r.add_argument("--n-test", type=int, default=1000)
    r.add_argument("--seeds", type=int, default=3)
    r.add_argument("--rhos", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    r.add_argument("--time-limit", type=float, default=30.0)
    r.add_argument("--out", required=True)
    s = sub.add_parser("summarise")
    s.add_argument("csv")
    a = ap.parse_args(argv)
    run(a) if a.cmd == "run" else summarise(a)


if __name__ == "__main__":
    main()
