"""Momentum annealing: compiled CSR kernel vs the torch path, ns per spin-step against graph size,
mean degree and replica count (the measurements behind ``kernel='auto'``, ``compiled_ma_pays``).

Each point is one MA solve (defaults: geometric β, dropout 0.5, full momentum; no polish, one
energy check at the end) on one thread, timed in this process's CPU seconds (other processes'
load on a shared machine does not inflate them); ns per spin-step = CPU time / (steps x replicas
x n), a step updating both layers. Kernels alternate per point. Graphs: shared G-set graphs and
generated G(n, p) graphs with ±1 weights (dense storage for the densest). Writes
``benchmarks/out/ma_kernel.csv`` and ``ma_kernel.md``.

``--ttt``: does the compiled kernel make MA the best solver anywhere? Median CPU seconds to 0.5 %
and 0.1 % of the best-known cut on the shared G-set graphs, ``sa`` (the ``qbnn maxcut`` default,
:func:`benchmarks.solvers.run_ours`) against compiled MA configurations (:data:`MA_CONFIGS`,
anneals repeated until the 0.1 % cut or the budget), interleaved per seed, one thread.
Writes ``ma_kernel_ttt.csv`` and ``ma_kernel_ttt.md``.

    python benchmarks/ma_kernel.py [--replicas 1 4 16 64] [--updates 1500000]
    python benchmarks/ma_kernel.py --ttt [--seeds 3] [--budget 4]
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
from qbnn.solvers.maxcut import energy_for_cut

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


#: compiled MA runs of the time-to-target comparison: name -> options (the default form; w_scale
#: 1.02, now the default, given explicitly)
MA_CONFIGS = {"ma-c4x1000": dict(replicas=4, steps=1000, w_scale=1.02),
              "ma-c4x4000": dict(replicas=4, steps=4000, w_scale=1.02)}
TTT_GRAPHS = ("G1", "G2", "G3", "G6", "G14", "G43", "G11", "G18", "G35", "G48", "G62", "G65")


def ttt(seeds: int, budget: float, graphs) -> list:
    """Rows of CPU seconds to 0.5 % / 0.1 % (benchmarks/solvers.py's row format) per graph, seed, solver."""
    import solvers as bench  # benchmarks/solvers.py: targets, the sa runner, rows, CPU clock

    bench.use_clock("cpu")
    tiny = IsingProblem(None, np.eye(3, k=1))  # warm-up: numba kernels compiled or loaded from the cache
    solve(tiny, "sa", replicas=1, steps=2, device="cpu", kernel="compiled")
    solve(tiny, "ma", replicas=1, steps=2, device="cpu", kernel="compiled")
    rows = []
    for g in graphs:
        prob = IsingProblem.from_gset(GSET / f"{g}.txt")
        best = bench.BEST_KNOWN[g]
        tc = bench.target_cuts(best)
        W = prob.meta["weight_sum"]
        for seed in range(seeds):
            load = os.getloadavg()[0]
            trace, sec, n_runs = bench.run_ours(prob, "sa", seed, budget, tc["0.1%"])
            rows.append(bench._row(g, "sa", seed, best, tc, trace, sec, n_runs, budget, load))
            for name, opts in MA_CONFIGS.items():
                t0 = time.process_time()
                res = solve(prob, "ma", **opts, kernel="compiled", time_limit=budget, seed=seed, device="cpu",
                            threads=1, target_energy=energy_for_cut(prob, tc["0.1%"]), progress=False)
                setup = time.process_time() - t0 - res.seconds
                trace = [(s + setup, (W - e) / 2.0) for _, s, e in res.trace]
                rows.append(bench._row(g, name, seed, best, tc, trace, res.seconds + setup, res.restarts, budget,
                                       os.getloadavg()[0]))
    return rows


def write_ttt(rows, path, seeds, budget):
    import solvers as bench

    med = bench.medians(rows)
    names = list(dict.fromkeys(r["solver"] for r in rows))
    loads = [r["load1"] for r in rows]
    lines = ["# Compiled MA vs sa: median CPU seconds to 0.5 % / 0.1 % of the best-known cut", "",
             f"`python benchmarks/ma_kernel.py --ttt --seeds {seeds} --budget {budget}`: {seeds} seeds, "
             f"{budget} CPU-s each, one thread, load average {min(loads):.1f}-{max(loads):.1f}. "
             "`missed`: not reached in the budget by at least half the seeds.", "",
             "| graph | " + " | ".join(f"{s} 0.5 % | {s} 0.1 % | {s} median cut" for s in names) + " |",
             "|---|" + "---|---|---|" * len(names)]
    for g in dict.fromkeys(r["graph"] for r in rows):
        cells = []
        for s in names:
            m = med[(g, s)]
            cells += [bench._fmt(m[0]), bench._fmt(m[1]), f"{np.median(m[2]):.0f}"]
        lines.append(f"| {g} | " + " | ".join(cells) + " |")
    with atomic_output(path) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")


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
    ap.add_argument("--ttt", action="store_true", help="time to target: compiled MA vs sa on G-set")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budget", type=float, default=4.0, help="CPU seconds per solver, graph and seed")
    a = ap.parse_args(argv)
    if a.ttt:
        rows = ttt(a.seeds, a.budget, a.graphs or TTT_GRAPHS)
        OUT.mkdir(exist_ok=True)
        with atomic_output(OUT / "ma_kernel_ttt.csv") as tmp, open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        write_ttt(rows, OUT / "ma_kernel_ttt.md", a.seeds, a.budget)
        return
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
