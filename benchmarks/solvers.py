"""Benchmark: time-to-target of the qbnn Ising machines on G-set MaxCut, side by side with
dwave-samplers' SimulatedAnnealingSampler and the simulated-bifurcation package.

For each graph and solver, repeated anneals run until the best-known cut is found or the
time budget is spent; we record the wall time at which the best cut first reached
(a) within 0.1 % of the best known and (b) the best known. Writes
``benchmarks/out/solvers.csv`` and ``benchmarks/out/solvers.png``.

    python benchmarks/solvers.py [--graphs G1] [--budget 20] [--seeds 3] [--threads 1]

Timings are wall-clock on whatever machine runs it (note its load when quoting them).
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from qbnn.solvers import IsingProblem, cut_value, energy_for_cut, solve

GSET = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "gset"
OUT = Path(__file__).resolve().parent / "out"
BEST_KNOWN = {"G1": 11624, "G2": 11620, "G3": 11622, "G6": 2178, "G14": 3063, "G43": 6660}

# per-anneal settings (replicas, steps); restarts until the target or the budget
OURS = {"sb": (64, 1000), "dsb": (64, 1000), "sa": (32, 500), "ma": (32, 1000)}


def _times_from_trace(trace, cut_of_energy, targets):
    """trace: [(step, seconds, energy)] -> {target: first seconds with cut >= target}."""
    out = {t: math.nan for t in targets}
    for _, sec, e in trace:
        c = cut_of_energy(e)
        for t in targets:
            if c >= t - 1e-9 and math.isnan(out[t]):
                out[t] = sec
    return out


def run_ours(prob, solver, seed, budget, target_cut):
    reps, steps = OURS[solver]
    res = solve(prob, solver, replicas=reps, steps=steps, time_limit=budget, seed=seed, device="cpu",
                target_energy=energy_for_cut(prob, target_cut), progress=False)
    W = prob.meta["weight_sum"]
    return res.trace, (lambda e: (W - e) / 2.0), res.seconds, res.restarts


def run_repeated(sample_once, prob, budget, target_cut):
    """Call ``sample_once()`` -> best spins until the target or budget; build a trace."""
    t0 = time.perf_counter()
    best = -math.inf
    trace = []
    runs = 0
    while True:
        s = sample_once()
        runs += 1
        c = float(cut_value(prob, s))
        if c > best:
            best = c
            trace.append((runs, time.perf_counter() - t0, c))
        if best >= target_cut or time.perf_counter() - t0 >= budget:
            break
    return trace, (lambda c: c), time.perf_counter() - t0, runs


def run_dwave(prob, seed, budget, target_cut):
    import dimod
    from dwave.samplers import SimulatedAnnealingSampler

    U = prob.upper().tocoo()
    bqm = dimod.BinaryQuadraticModel.from_ising({}, {(int(i), int(j)): float(v) for i, j, v in zip(U.row, U.col, U.data)})
    bqm.add_variables_from({i: 0.0 for i in range(prob.n)})
    sampler = SimulatedAnnealingSampler()
    rng = np.random.default_rng(seed)

    def once():
        ss = sampler.sample(bqm, num_reads=32, num_sweeps=1000, seed=int(rng.integers(2 ** 31)))
        rec = ss.record
        i = int(np.argmin(rec.energy))
        order = list(ss.variables)
        s = np.empty(prob.n, dtype=np.int8)
        s[order] = rec.sample[i]
        return s

    return run_repeated(once, prob, budget, target_cut)


def run_sbpkg(prob, seed, budget, target_cut, mode="ballistic"):
    import simulated_bifurcation as sbp

    U = torch.as_tensor(prob.upper().toarray(), dtype=torch.float32)
    torch.manual_seed(seed)

    def once():
        x, _ = sbp.minimize(U, domain="spin", agents=32, max_steps=1000, mode=mode, verbose=False,
                            early_stopping=False, device="cpu", dtype=torch.float32)
        return x.to(torch.int8).numpy()

    return run_repeated(once, prob, budget, target_cut)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--graphs", nargs="+", default=["G1"])
    ap.add_argument("--budget", type=float, default=20.0, help="seconds per (graph, solver, seed)")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--solvers", nargs="+", default=["sb", "dsb", "sa", "ma", "dwave-sa", "sbpkg-bsb", "sbpkg-dsb"])
    ap.add_argument("--tag", default="", help="write solvers_<tag>.csv/.png instead of solvers.csv/.png")
    a = ap.parse_args(argv)
    stem = "solvers" + (f"_{a.tag}" if a.tag else "")
    torch.set_num_threads(a.threads)
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for g in a.graphs:
        prob = IsingProblem.from_gset(GSET / f"{g}.txt")
        best = BEST_KNOWN[g]
        near = math.ceil(best * 0.999)
        for solver in a.solvers:
            for seed in range(a.seeds):
                if solver in OURS:
                    trace, conv, sec, runs = run_ours(prob, solver, seed, a.budget, best)
                elif solver == "dwave-sa":
                    trace, conv, sec, runs = run_dwave(prob, seed, a.budget, best)
                else:
                    trace, conv, sec, runs = run_sbpkg(prob, seed, a.budget, best,
                                                       "discrete" if solver.endswith("dsb") else "ballistic")
                tt = _times_from_trace(trace, conv, [near, best])
                best_cut = max(conv(e) for *_, e in trace)
                row = {"graph": g, "solver": solver, "seed": seed, "best_known": best, "best_cut": best_cut,
                       "tt_0.1pct_s": tt[near], "tt_best_s": tt[best], "seconds": sec, "anneals": runs,
                       "budget_s": a.budget, "threads": a.threads}
                rows.append(row)
                print(row, flush=True)
    with open(OUT / f"{stem}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    _plot(rows, a.budget, OUT / f"{stem}.png")
    _table(rows)


def _table(rows):
    print("| graph | solver | best cut (per seed) | median time to 0.1% (s) | median time to best (s) | hit best |")
    print("|---|---|---|---|---|---|")
    keys = sorted({(r["graph"], r["solver"]) for r in rows}, key=lambda k: (k[0], [r["solver"] for r in rows].index(k[1])))
    for g, s in keys:
        rr = [r for r in rows if r["graph"] == g and r["solver"] == s]
        def med(k):
            v = [r[k] for r in rr]
            return "—" if any(math.isnan(x) for x in v) and all(math.isnan(x) for x in v) else \
                f"{np.nanmedian(v):.2f}" + ("" if not any(math.isnan(x) for x in v) else " (some missed)")
        print(f"| {g} | {s} | {', '.join(str(int(r['best_cut'])) for r in rr)} | {med('tt_0.1pct_s')} | "
              f"{med('tt_best_s')} | {sum(not math.isnan(r['tt_best_s']) for r in rr)}/{len(rr)} |")


def _plot(rows, budget, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot")
        return
    solvers = list(dict.fromkeys(r["solver"] for r in rows))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for k, (col, lab) in enumerate([("tt_0.1pct_s", "within 0.1 %"), ("tt_best_s", "best known")]):
        vals = [[budget * 1.05 if math.isnan(r[col]) else r[col] for r in rows if r["solver"] == s] for s in solvers]
        xs = np.arange(len(solvers)) + (k - 0.5) * 0.3
        for x, v in zip(xs, vals):
            ax.scatter([x] * len(v), v, color=f"C{k}", label=lab if x == xs[0] else None, s=18)
    ax.axhline(budget, color="grey", ls=":", lw=1)
    ax.set_xticks(range(len(solvers)), solvers, rotation=20)
    ax.set_ylabel("time to target (s); above line = missed")
    ax.set_yscale("log")
    ax.set_title(", ".join(sorted({r["graph"] for r in rows})) + " MaxCut time to target (CPU, shared machine)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
