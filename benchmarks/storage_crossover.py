"""Dense vs CSR couplings for the SA sweep on the CPU: where does CSR start to win?

Random ±1 graphs of n spins with pair density d; the same problem is solved with the coupling
blocks forced dense and forced CSR (alternating, best of two, one thread), 40 sweeps each.
Writes ``benchmarks/out/storage_crossover.csv``; the rule in ``qbnn.storage_layout.dense_layout``
comes from it (docs/solvers.md, "Dense or CSR").

    python benchmarks/storage_crossover.py [--replicas 32] [--sizes 128 256 512 1024 2048]
"""
from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

import qbnn.storage_layout as storage_layout
from qbnn.io import atomic_output
from qbnn.solvers import IsingProblem, simulated_annealing

OUT = Path(__file__).resolve().parent / "out"


def random_graph(n: int, density: float, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    r, c = np.triu_indices(n, 1)
    keep = rng.random(len(r)) < density
    return sp.coo_matrix((rng.choice([-1.0, 1.0], keep.sum()), (r[keep], c[keep])), shape=(n, n)).tocsr()


def sweep_seconds(J, dense: bool, replicas: int, sweeps: int = 40) -> float:
    old = storage_layout.DENSE_MAX_N, storage_layout.DENSE_SLOPE
    storage_layout.DENSE_MAX_N, storage_layout.DENSE_SLOPE = (10 ** 9, 0.1) if dense else (1, 10.0 ** 9)
    try:
        p = IsingProblem(None, J)
        simulated_annealing(p, replicas=replicas, steps=2, device="cpu", polish=False, progress=False)  # setup
        t = time.perf_counter()
        simulated_annealing(p, replicas=replicas, steps=sweeps, device="cpu", polish=False, check_every=sweeps,
                            progress=False)
        return (time.perf_counter() - t) / sweeps
    finally:
        storage_layout.DENSE_MAX_N, storage_layout.DENSE_SLOPE = old


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicas", type=int, default=32)
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512, 1024, 2048])
    ap.add_argument("--densities", type=float, nargs="+", default=[0.015, 0.045, 0.14, 0.36, 0.78])
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for n in a.sizes:
        for d in a.densities:
            J = random_graph(n, d)
            load = os.getloadavg()[0]
            t = {True: [], False: []}
            for dense in (True, False, True, False):
                t[dense].append(sweep_seconds(J, dense, a.replicas))
            nnz = 2 * J.nnz  # both triangles, as stored
            rows.append({"n": n, "nnz_fraction": round(nnz / n ** 2, 4), "replicas": a.replicas,
                         "dense_ms_per_sweep": round(min(t[True]) * 1e3, 3),
                         "csr_ms_per_sweep": round(min(t[False]) * 1e3, 3),
                         "csr_over_dense": round(min(t[False]) / min(t[True]), 2),
                         "rule_says_dense": storage_layout.dense_layout(n, nnz, "cpu"), "load1": round(load, 2)})
            print(rows[-1], flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    with atomic_output(OUT / "storage_crossover.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    main()
