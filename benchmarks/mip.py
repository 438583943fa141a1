"""Benchmark: exact MILP vs data splitting vs local search at growing sample counts.

Planted instances (uniform features in [-10, 10], labels from a random [4, 3, 1] network).
Writes benchmarks/out/mip.csv; usage: python benchmarks/mip.py [--sizes 20 40 80] [--time-limit 20]
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from qbnn.io import atomic_output
from qbnn.mip import MIPNetwork
from qbnn.mip.datasets import planted


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[20, 40, 80, 160])
    ap.add_argument("--layers", type=int, nargs="+", default=[4, 3, 1])
    ap.add_argument("--time-limit", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "mip.csv"))
    a = ap.parse_args(argv)
    rows = []
    for n in a.sizes:
        X, y, Xte, yte = planted(n_train=n, n_test=500, layers=a.layers, seed=a.seed)
        for method in ("exact", "split", "local"):
            t = time.perf_counter()
            net = MIPNetwork(a.layers, method, time_limit=a.time_limit, seed=a.seed).fit(X, y)
            row = {"n_train": n, "method": method, "seconds": round(time.perf_counter() - t, 3),
                   "train_accuracy": round(net.score(X, y), 4), "test_accuracy": round(net.score(Xte, yte), 4),
                   "objective": net.info_["objective"], "mip_gap": net.info_.get("mip_gap"),
                   "status": net.info_.get("status")}
            rows.append(row)
            print(row, flush=True)
    with atomic_output(a.out, suffix=".csv") as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
