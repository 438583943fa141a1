"""keep_best on/off in the ``qbnn maxcut`` SA schedule: CPU seconds to 0.5 % / 0.1 % of the best
known cut per graph kind, same seeds side by side, and tuned dwave-samplers SA at fixed sweep
counts on the same seeds (the benchmarks/solvers.py protocol: restarts until the 0.1 % cut or the
budget, times at the end of the anneal that first holds a target).

    python benchmarks/sa_keep_best.py --graphs G18 G3 G11 G14 G35 --seeds 20 --budget 2 \
        --peer G18:2000 G18:4000
"""
from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import solvers as bench  # noqa: E402  (benchmarks/solvers.py: the protocol and its clock)

from qbnn.solvers import IsingProblem, solve  # noqa: E402
from qbnn.solvers.maxcut import energy_for_cut  # noqa: E402
from qbnn.solvers.sa import sa_schedule  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"


def ours(prob, seed, budget, stop, keep_best):
    W = prob.meta["weight_sum"]
    opts = dict(sa_schedule(prob, budget, "cpu"), keep_best=keep_best)
    t0 = bench.clock()
    res = solve(prob, "sa", **opts, time_limit=budget, seed=seed, device="cpu",
                target_energy=energy_for_cut(prob, stop), progress=False)
    setup = (bench.clock() - t0) - res.seconds
    return [(sec + setup, (W - e) / 2.0) for _, sec, e in res.trace]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--graphs", nargs="+", default=["G18", "G3", "G11", "G14", "G35"])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--budget", type=float, default=2.0, help="CPU seconds per run")
    ap.add_argument("--peer", nargs="*", default=[], metavar="GRAPH:SWEEPS")
    ap.add_argument("--out", default=str(OUT / "sa_keep_best"))
    a = ap.parse_args(argv)
    bench.use_clock("cpu")
    rows = []
    runs = [(g, f"sa keep_best={k}", k) for g in a.graphs for k in (False, True)]
    runs += [(p.split(":")[0], f"dwave-sa@{p.split(':')[1]}", int(p.split(":")[1])) for p in a.peer]
    for g, name, arg in runs:
        path = bench.GSET / f"{g}.txt"
        prob = IsingProblem.from_gset(path)
        tc = bench.target_cuts(bench.BEST_KNOWN[g])
        bqm = bench.dwave_bqm(prob) if name.startswith("dwave") else None
        for seed in range(a.seeds):
            if bqm is None:
                trace = ours(prob, seed, a.budget, tc["0.1%"], arg)
            else:
                trace = bench.run_dwave(prob, bqm, seed, a.budget, tc["0.1%"], arg)[0]
            tt = bench.times_to(trace, tc, a.budget)
            rows.append({"graph": g, "solver": name, "seed": seed, "tt_0.5pct_s": tt["0.5%"],
                         "tt_0.1pct_s": tt["0.1%"], "load1": round(os.getloadavg()[0], 2)})
            print(rows[-1], flush=True)
    with open(a.out + ".csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    lines = [f"`python benchmarks/sa_keep_best.py {' '.join(argv or sys.argv[1:])}`; CPU seconds, median over "
             f"{a.seeds} seeds (runs that missed count as missed; a median is given when over half reached).", "",
             "| graph | solver | median s to 0.5% (reached) | median s to 0.1% (reached) |", "|---|---|---|---|"]
    for g, name, _ in runs:
        cell = []
        for k in ("tt_0.5pct_s", "tt_0.1pct_s"):
            v = [r[k] for r in rows if r["graph"] == g and r["solver"] == name]
            hit = [x for x in v if x == x]
            med = statistics.median([x if x == x else float("inf") for x in v])
            cell.append(f"{med:.3f} ({len(hit)}/{len(v)})" if med != float("inf") else f"missed ({len(hit)}/{len(v)})")
        lines.append(f"| {g} | {name} | {cell[0]} | {cell[1]} |")
    Path(a.out + ".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
