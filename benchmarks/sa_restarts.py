"""Restart schedules in CPU time: success chance per anneal length, ours vs dwave-samplers SA.

For each graph, R independent anneals at each length: ours (compiled kernel, one thread, 'field'
β, polish; lengths 100, 150, 225, ... as the 1.5x restarts) and dwave-samplers SA (its β range;
250, 500, 1000, ... sweeps), with the process CPU seconds per anneal (load on the shared cores
inflates CPU time far less than wall time). From these, expected CPU seconds to 0.5 % / 0.1 % of
the best known cut: dwave at its best fixed sweep count (cost / success rate, picked after the
fact: optimistic for it) and ours under restart schedules (Monte Carlo over the measured
anneals: each anneal of a schedule draws one measured anneal of the nearest measured length, so
past the longest measured length the schedule repeats that one; past 60 CPU s it counts as a miss).
Appends to ``benchmarks/out/sa_restarts.jsonl``; ``--table`` prints the markdown table of all rows.

    python benchmarks/sa_restarts.py --graphs G18 G11 --anneals 64 --max-sweeps 9000
    python benchmarks/sa_restarts.py --graphs DIR/P1600.txt --reference 2051 ...
    python benchmarks/sa_restarts.py --table
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numba
import numpy as np

from qbnn.solvers import IsingProblem
from qbnn.solvers import sa_kernel as K
from qbnn.solvers.maxcut import cut_value
from solvers import BEST_KNOWN, GSET, OUT, dwave_bqm

RESULTS = OUT / "sa_restarts.jsonl"
#: (first sweeps, growth, kind): 'grow' = each anneal `growth` x longer (qbnn's rule: 100, 1.5),
#: 'luby' = first x the Luby sequence 1 1 2 1 1 2 4 ...
SCHEDULES = {"100×1.5": (100, 1.5, "grow"), "100×2": (100, 2.0, "grow"), "300×1.5": (300, 1.5, "grow"),
             "Luby 200": (200, 1.0, "luby")}


def ours(p, sweeps, R, seed):
    """R anneals of ``sweeps`` (one kernel call, one thread) -> (cuts, CPU s per anneal)."""
    m = K.CompiledAnneal(p, R, seed, True)
    csr = (m.indptr, m.indices, m.data)
    t = time.process_time()
    K.random_start(*csr, m.h, m.spins, m.fields, m.rng)
    m.energies[:] = m.units(p.energy(m.spins))
    stop = np.zeros(1 + R, np.int64)
    target = -math.inf if m.scale is None else -2 ** 62
    K.anneal(*csr, np.geomspace(*p.beta_range("field"), sweeps), m.spins, m.fields, m.energies, m.rng, target,
             stop, float(m.scale or 1), m.thresholds)
    K.descend(*csr, m.spins, m.fields, m.energies)
    return [float(c) for c in cut_value(p, m.spins)], (time.process_time() - t) / R


def dwave(p, bqm, sweeps, R, seed):
    from dwave.samplers import SimulatedAnnealingSampler

    t = time.process_time()
    ss = SimulatedAnnealingSampler().sample(bqm, num_reads=R, num_sweeps=sweeps, seed=seed)
    sec = (time.process_time() - t) / R
    s = np.empty((len(ss.record), p.n), dtype=np.int8)
    s[:, list(ss.variables)] = ss.record.sample
    return [float(c) for c in cut_value(p, s)], sec


def measure(spec, best, R, max_sweeps):
    path = Path(spec) if spec.endswith(".txt") else GSET / f"{spec}.txt"
    name = path.stem
    p = IsingProblem.from_gset(path)
    bqm = dwave_bqm(p)
    ours(p, 2, 1, 0)  # compile / load the kernel
    grow = [100]
    while math.ceil(grow[-1] * 1.5) <= max_sweeps:
        grow.append(math.ceil(grow[-1] * 1.5))
    doubling = [250 * 2 ** k for k in range(20) if 250 * 2 ** k <= max_sweeps]
    with open(RESULTS, "a") as f:
        for L in sorted(set(grow) | set(doubling)):
            for who, lengths, run in (("ours", grow, lambda: ours(p, L, R, 1000 + L)),
                                      ("dwave", doubling, lambda: dwave(p, bqm, L, R, 1000 + L))):
                if L in lengths:
                    load = os.getloadavg()[0]
                    cuts, sec = run()
                    rec = {"graph": name, "best": best, "who": who, "sweeps": L, "cuts": cuts,
                           "cpu_s_per_anneal": sec, "load1": round(load, 2)}
                    f.write(json.dumps(rec) + "\n")
                    print(name, who, L, "median cut", np.median(cuts), f"CPU s/anneal {sec:.4f} load {load:.1f}",
                          flush=True)


def schedule_lengths(first, growth, kind, count=5000):
    if kind == "luby":
        return [first * _luby(i) for i in range(1, count)]
    out, L = [], float(first)
    while len(out) < count:
        out.append(L)
        L = min(math.ceil(L * growth), 1e12)
    return out


def _luby(i):
    k = 1
    while (1 << k) - 1 < i:
        k += 1
    while i != (1 << k) - 1:
        i -= (1 << (k - 1)) - 1
        k = 1
        while (1 << k) - 1 < i:
            k += 1
    return 1 << (k - 1)


def expected_cpu(runs, target, first, growth, kind, sims=4000, cap=60.0, seed=0):
    """Mean CPU s to the target under a schedule (inf if a simulated run passes ``cap`` s)."""
    rng = np.random.default_rng(seed)
    measured = np.array(sorted(runs))
    seq = [measured[np.argmin(abs(np.log(measured) - math.log(L)))] for L in schedule_lengths(first, growth, kind)]
    total = []
    for _ in range(sims):
        t = 0.0
        for L in seq:
            cuts, sec = runs[L]
            t += sec
            if cuts[rng.integers(len(cuts))] >= target:
                break
            if t > cap:
                t = math.inf
                break
        else:  # the schedule ran out without a hit
            t = math.inf
        total.append(t)
    return float(np.mean(total))


def table(rows):
    pool = {}
    for r in rows:
        d = pool.setdefault((r["graph"], r["who"]), {})
        c, s = d.get(r["sweeps"], ([], []))
        d[r["sweeps"]] = (c + r["cuts"], s + [r["cpu_s_per_anneal"]] * len(r["cuts"]))
    runs = {k: {L: (np.array(c), float(np.mean(s))) for L, (c, s) in d.items()} for k, d in pool.items()}
    best = {r["graph"]: r["best"] for r in rows}
    lines = ["| graph | target | " + " | ".join(f"ours {s}" for s in SCHEDULES)
             + " | dwave best fixed: CPU s (sweeps, hits/anneals) | ours 100×1.5 / dwave |",
             "|---|---|" + "---|" * (len(SCHEDULES) + 2)]
    for g in dict.fromkeys(k[0] for k in runs):
        if (g, "dwave") not in runs or (g, "ours") not in runs:
            continue
        for name, f in (("0.5%", 0.995), ("0.1%", 0.999)):
            t = math.ceil(best[g] * f)
            ex = [expected_cpu(runs[g, "ours"], t, *s) for s in SCHEDULES.values()]
            peer = min(((sec / np.mean(c >= t), L) for L, (c, sec) in runs[g, "dwave"].items() if np.any(c >= t)),
                       default=None)
            if peer is None:
                dw, ratio = "missed in all", "peer missed"
            else:
                c = runs[g, "dwave"][peer[1]][0]
                dw, ratio = f"{peer[0]:.3f} ({peer[1]}, {int((c >= t).sum())}/{len(c)})", f"{ex[0] / peer[0]:.2f}"
            lines.append(f"| {g} | {name} | " + " | ".join("missed" if math.isinf(x) else f"{x:.3f}" for x in ex)
                         + f" | {dw} | {ratio} |")
    loads = [r["load1"] for r in rows]
    lines += ["", f"1-minute load {min(loads):.1f}-{max(loads):.1f} (2 cores, shared); one thread each, process CPU time"]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--graphs", nargs="*", default=[], help="G-set names or paths of G-set-format files")
    ap.add_argument("--reference", type=float, nargs="*", default=None,
                    help="reference cuts of the path graphs (in order); G-set names use the best known")
    ap.add_argument("--anneals", type=int, default=64)
    ap.add_argument("--max-sweeps", type=int, default=9000)
    ap.add_argument("--table", action="store_true", help="print the table of all rows in sa_restarts.jsonl")
    a = ap.parse_args(argv)
    numba.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    refs = iter(a.reference or [])
    for g in a.graphs:
        measure(g, BEST_KNOWN[g] if g in BEST_KNOWN else next(refs), a.anneals, a.max_sweeps)
    if a.table:
        text = table([json.loads(line) for line in open(RESULTS)])
        print(text)
        (OUT / "sa_restarts.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
