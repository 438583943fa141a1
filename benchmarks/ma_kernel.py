"""Momentum annealing: compiled CSR kernel vs the torch path, ns per spin-step against graph size,
mean degree and replica count (the measurements behind ``kernel='auto'``, ``compiled_ma_pays``).

Each point is one MA solve (defaults: geometric β, dropout 0.5, full momentum; no polish, one
energy check at the end) on one thread, timed in this process's CPU seconds (other processes'
load on a shared machine does not inflate them); ns per spin-step = CPU time / (steps x replicas
x n), a step updating both layers. Kernels alternate per point. Graphs: shared G-set graphs and
generated G(n, p) graphs with ±1 weights (dense storage for the densest). Writes
``benchmarks/out/ma_kernel.csv`` and ``ma_kernel.md``.

    python benchmarks/ma_kernel.py [--replicas 1 4 16 64] [--updates 1500000]
"""
from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from qbnn.io import atomic_output
from qbnn.solvers import IsingProblem, solve
from qbnn.solvers.ma import compiled_ma_pays

GSET = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "gset"
OUT = Path(__file__).resolve().parent / "out"
GRAPHS = ("G11", "G14", "G1", "G43", "G35", "G48", "G62", "G81")
#: generated G(n, p) graphs: name -> (n, mean degree)
GENERATED = {"R1000d4": (1000, 4), "R1000d16": (1000, 16), "R1000d64": (1000, 64), "R1000d256": (1000, 256),
             "R400d300": (400, 300), "R4000d32": (4000, 32)}


def random_graph(n: int, degree: float, seed: int = 0) -> IsingProblem:
    """G(n, p) with p = degree / (n - 1) and ±1 weights."""
    rng = np.random.default_rng(seed)
    i, j = np.triu_indices(n, 1)
    keep = rng.random(i.size) < degree / (n - 1)
    U = sp.coo_matrix((rng.choice([-1.0, 1.0], keep.sum()), (i[keep], j[keep])), shape=(n, n))
    return IsingProblem(None, U, name=f"R{n}d{degree}")


def time_solve(prob, kernel, replicas, steps, seed):
    t = time.process_time()
    solve(prob, "ma", replicas=replicas, steps=steps, seed=seed, device="cpu", kernel=kernel, threads=1,
          polish=False, check_every=steps, progress=False)
    return time.process_time() - t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicas", type=int, nargs="+", default=[1, 4, 16, 64])
    ap.add_argument("--updates", type=float, default=1.5e6, help="spin-steps per point (sets the step count)")
    ap.add_argument("--graphs", nargs="*", default=None, help="subset of G-set and generated names")
    a = ap.parse_args(argv)
    problems = [(g, lambda g=g: IsingProblem.from_gset(GSET / f"{g}.txt")) for g in GRAPHS]
    problems += [(g, lambda nd=nd: random_graph(*nd)) for g, nd in GENERATED.items()]
    rows = []
    for name, make in problems:
        if a.graphs and name not in a.graphs:
            continue
        prob = make()
        degree = prob.J.nnz / prob.n
        for kernel in ("compiled", "torch"):  # warm-up: numba kernels, torch tensors of the problem
            time_solve(prob, kernel, 2, 2, 0)
        for R in a.replicas:
            steps = max(20, int(a.updates / (R * prob.n)))
            t = {k: time_solve(prob, k, R, steps, 1) for k in ("compiled", "torch")}
            ns = {k: v / (steps * R * prob.n) * 1e9 for k, v in t.items()}
            rows.append({"graph": name, "n": prob.n, "mean_degree": round(degree, 2),
                         "dense": prob.prefers_dense, "replicas": R, "steps": steps,
                         "compiled_ns": round(ns["compiled"], 2), "torch_ns": round(ns["torch"], 2),
                         "torch_over_compiled": round(ns["torch"] / ns["compiled"], 2),
                         "auto": "compiled" if compiled_ma_pays(prob, R) else "torch",
                         "load1": round(os.getloadavg()[0], 2)})
            print(rows[-1], flush=True)
    OUT.mkdir(exist_ok=True)
    with atomic_output(OUT / "ma_kernel.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    write_table(rows, OUT / "ma_kernel.md")


def write_table(rows, path):
    loads = [r["load1"] for r in rows]
    lines = ["# Momentum annealing: compiled CSR kernel vs torch path (ns per spin-step, CPU time, 1 thread)", "",
             f"`python benchmarks/ma_kernel.py`; load average {min(loads):.1f}-{max(loads):.1f} during the run. "
             "A step updates both layers; `auto` is the kernel `compiled_ma_pays` picks.", "",
             "| graph | n | mean degree | dense | replicas | steps | compiled ns | torch ns | torch/compiled | auto |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['graph']} | {r['n']} | {r['mean_degree']} | {'yes' if r['dense'] else 'no'} | "
                     f"{r['replicas']} | {r['steps']} | {r['compiled_ns']} | {r['torch_ns']} | "
                     f"{r['torch_over_compiled']} | {r['auto']} |")
    with atomic_output(path) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
