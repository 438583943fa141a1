"""Spin-update throughput of our SA kernel vs dwave-samplers' SA on one G-set graph, same process.

Both run the same anneal (sweeps, 'field' β range); ours with R replicas per tensor, dwave with
R reads. Prints ns per spin update (wall time / (R x sweeps x n)); rounds alternate between the
two so load drift on a shared machine hits both alike. Writes ``benchmarks/out/sa_throughput.csv``.

    python benchmarks/sa_throughput.py [--graph G1] [--sweeps 400] [--replicas 8 32 128] [--rounds 3]
"""
from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import numpy as np

from qbnn.io import atomic_output
from qbnn.solvers import IsingProblem, simulated_annealing

GSET = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "gset"
OUT = Path(__file__).resolve().parent / "out"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--graph", default="G1")
    ap.add_argument("--sweeps", type=int, default=400)
    ap.add_argument("--replicas", type=int, nargs="+", default=[8, 32, 128])
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args(argv)
    import dimod
    from dwave.samplers import SimulatedAnnealingSampler

    prob = IsingProblem.from_gset(GSET / f"{a.graph}.txt")
    U = prob.upper().tocoo()
    bqm = dimod.BinaryQuadraticModel.from_ising({}, {(int(i), int(j)): float(v) for i, j, v in zip(U.row, U.col, U.data)})
    beta = prob.beta_range("field")
    sampler = SimulatedAnnealingSampler()
    simulated_annealing(prob, replicas=8, steps=2, device="cpu", threads=1)  # colouring cached, warm-up
    rows = []
    for rnd in range(a.rounds):
        for R in a.replicas:
            load = os.getloadavg()[0]
            t = time.perf_counter()
            simulated_annealing(prob, replicas=R, steps=a.sweeps, beta_range=beta, seed=rnd, device="cpu",
                                check_every=a.sweeps, polish=False, threads=1, progress=False)
            ours = time.perf_counter() - t
            t = time.perf_counter()
            sampler.sample(bqm, num_reads=R, num_sweeps=a.sweeps, beta_range=beta, seed=rnd)
            dw = time.perf_counter() - t
            upd = R * a.sweeps * prob.n
            rows.append({"graph": a.graph, "round": rnd, "replicas": R, "sweeps": a.sweeps,
                         "ours_ns_per_update": ours / upd * 1e9, "dwave_ns_per_update": dw / upd * 1e9,
                         "load1": round(load, 2)})
            print(rows[-1], flush=True)
    with atomic_output(OUT / "sa_throughput.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print("| replicas/reads | ours ns/update (median) | dwave ns/update (median) | ours/dwave |")
    print("|---|---|---|---|")
    for R in a.replicas:
        o = np.median([r["ours_ns_per_update"] for r in rows if r["replicas"] == R])
        d = np.median([r["dwave_ns_per_update"] for r in rows if r["replicas"] == R])
        print(f"| {R} | {o:.1f} | {d:.1f} | {o / d:.2f} |")


if __name__ == "__main__":
    main()
