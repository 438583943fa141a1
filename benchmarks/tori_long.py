"""G62 / G65 (±1 tori, 7,000-8,000 nodes) with a long CPU budget: does either side reach 0.5 % /
0.1 % of the best known cut, and at what ratio? Neither does within the 6 CPU-s of
``benchmarks/solvers.py``. Same protocol as there (``run_ours``: the ``qbnn maxcut`` schedule;
``run_dwave``: dwave-samplers SA at fixed sweep counts, called repeatedly), process CPU seconds,
one thread each, solvers interleaved per seed. Writes ``benchmarks/out/tori_long.csv`` and
``tori_long.md``.

    python benchmarks/tori_long.py --budget 40 --seeds 3 --sweeps 16000 32000
"""
from __future__ import annotations

import argparse
import math
import os

import solvers as B
from qbnn.solvers import IsingProblem


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--graphs", nargs="+", default=["G62", "G65"])
    ap.add_argument("--budget", type=float, default=40.0, help="CPU seconds per (graph, solver, seed)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--sweeps", type=int, nargs="+", default=[16000, 32000], help="dwave-samplers sweep counts")
    a = ap.parse_args(argv)
    B.use_clock("cpu")
    rows = []
    for g in a.graphs:
        prob = IsingProblem.from_gset(B.GSET / f"{g}.txt")
        best = B.BEST_KNOWN[g]
        tc = B.target_cuts(best)
        bqm = B.dwave_bqm(prob)
        for seed in range(a.seeds):
            for solver in ["sa"] + [f"dwave-sa@{s}" for s in a.sweeps]:
                load = os.getloadavg()[0]
                if solver == "sa":
                    trace, sec, runs = B.run_ours(prob, "sa", seed, a.budget, tc["0.1%"])
                else:
                    trace, sec, runs = B.run_dwave(prob, bqm, seed, a.budget, tc["0.1%"], int(solver.split("@")[1]))
                rows.append(B._row(g, solver, seed, best, tc, trace, sec, runs, a.budget, load))
            B._write_csv(rows, B.OUT / "tori_long.csv")
    med = B.medians(rows)
    lines = [f"| graph | solver | best cut per seed | median CPU s to 0.5% | median CPU s to 0.1% |", "|---|---|---|---|---|"]
    for (g, s), (t5, t1, cuts, _) in med.items():
        lines.append(f"| {g} | {s} | {', '.join(map(str, cuts))} | {B._fmt(t5)} | {B._fmt(t1)} |")
    loads = [r["load1"] for r in rows]
    lines += ["", f"{a.seeds} seeds, budget {a.budget} CPU s per (graph, solver, seed), best known "
              + ", ".join(f"{g} {B.BEST_KNOWN[g]}" for g in a.graphs)
              + f"; 1-minute load {min(loads):.1f}-{max(loads):.1f} (2 cores, shared)"]
    (B.OUT / "tori_long.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
