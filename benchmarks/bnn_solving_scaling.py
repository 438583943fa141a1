"""Time-to-target of the move strategies vs training samples and hidden width (issue 5).

Digits (one class pair, 4x4, ±1), topology [16, h, 1] with bias, n ∈ {50, 100, 200}, h ∈ {2, 4, 8}.
Per configuration: STE (Adam, best of 5 seeds) per seed; HiGHS tries to prove the optimum
(exact MILP, warm-started with the best STE weights). Target = the proven optimum when HiGHS
proves it within ``--milp-time``, else the best known error (best STE seed or HiGHS's incumbent). Each strategy
runs with that target as stopping rule (``solve_bnn(target=...)``) and a cap of ``--cap`` seconds;
its wall time when it stops is the time-to-target (censored at the cap when not reached).
Writes ``benchmarks/out/bnn_solving_scaling.csv`` / ``.png`` and prints a log-log fit
``t ≈ a · n^b · h^c`` over the reached runs (medians per configuration).

    python benchmarks/bnn_solving_scaling.py [--pair 3v8] [--seeds 3] [--cap 20]
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bnn_solving import digits_task, run_ste  # noqa: E402

from qbnn.bnn_solving import solve_bnn  # noqa: E402
from qbnn.bnn_solving.exact_milp import solve_exact_milp  # noqa: E402
from qbnn.compiler import compile_bnn  # noqa: E402
from qbnn.io import atomic_output  # noqa: E402
from qbnn.topology import Topology  # noqa: E402

OUT = Path(__file__).parent / "out"


def fit_power_law(rows, method):
    """Least squares of log t = log a + b log n + c log h over configurations where every seed reached the target."""
    pts = []
    for key in dict.fromkeys((r["n"], r["hidden"]) for r in rows if r["method"] == method):
        rs = [r for r in rows if r["method"] == method and (r["n"], r["hidden"]) == key]
        if all(r["reached"] for r in rs):
            pts.append((key[0], key[1], float(np.median([r["time_s"] for r in rs]))))
    if len(pts) < 3:
        return None
    P = np.array(pts, dtype=float)
    M = np.column_stack([np.ones(len(P)), np.log(P[:, 0]), np.log(P[:, 1])])
    coef, *_ = np.linalg.lstsq(M, np.log(P[:, 2]), rcond=None)
    return float(np.exp(coef[0])), float(coef[1]), float(coef[2]), len(pts)


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig, axes = plt.subplots(1, len(methods), figsize=(4.2 * len(methods), 3.6), sharey=True)
    for ax, m in zip(np.atleast_1d(axes), methods):
        for h in sorted({r["hidden"] for r in rows}):
            ns = sorted({r["n"] for r in rows if r["hidden"] == h})
            med, reach = [], []
            for n in ns:
                rs = [r for r in rows if r["method"] == m and r["hidden"] == h and r["n"] == n]
                med.append(np.median([r["time_s"] for r in rs]))
                reach.append(all(r["reached"] for r in rs))
            ax.plot(ns, med, "o-", label=f"h={h}")
            for n, t, ok in zip(ns, med, reach):
                if not ok:
                    ax.plot([n], [t], "kx", ms=10)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training samples n")
        ax.set_title(m)
    np.atleast_1d(axes)[0].set_ylabel("time to target (s, median; x = not always reached)")
    np.atleast_1d(axes)[0].legend()
    fig.tight_layout()
    with atomic_output(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pair", default="3v8")
    ap.add_argument("--ns", default="50,100,200")
    ap.add_argument("--hidden", default="2,4,8")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--cap", type=float, default=20.0)
    ap.add_argument("--milp-time", type=float, default=60.0)
    ap.add_argument("--methods", default="ste-pt,pt")
    ap.add_argument("--out", default=str(OUT / "bnn_solving_scaling.csv"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    pair = tuple(int(v) for v in args.pair.split("v"))
    rows = []
    for h in (int(v) for v in args.hidden.split(",")):
        for n in (int(v) for v in args.ns.split(",")):
            Xtr, ytr, _, _ = digits_task(n, pair=pair)
            topo = Topology.layered([16, h, 1], bias=True)
            comp = compile_bnn(topo, Xtr, ytr)
            ste = [run_ste(topo, Xtr, ytr, s) for s in range(args.seeds)]
            errs = [int(topo.training_loss(w, Xtr, ytr)) for w, _ in ste]
            m = solve_exact_milp(topo, Xtr, ytr, time_limit=args.milp_time, warm_weights=ste[int(np.argmin(errs))][0])
            target = m.objective if m.optimal else min(min(errs), m.objective)  # best known otherwise
            base = dict(pair=args.pair, n=n, hidden=h, n_vars=comp.num_variables, target=target,
                        target_kind="proven optimum" if m.optimal else "best known (STE / MILP incumbent)", milp_bound=m.bound,
                        milp_s=round(m.seconds, 2))
            print(f"n={n} h={h}: STE errors {errs}, MILP {m.summary()}", flush=True)
            for s, ((w, t), e) in enumerate(zip(ste, errs)):
                rows.append(dict(base, method="ste-best-of-5", seed=s, errors=e, reached=e <= target, time_s=round(t, 3)))
            for strat in args.methods.split(","):
                for s in range(args.seeds):
                    t0 = time.perf_counter()
                    r = solve_bnn(comp, strat, replicas=32, steps=10**8, time_limit=args.cap, seed=s, target=target)
                    t = time.perf_counter() - t0
                    rows.append(dict(base, method=strat, seed=s, errors=r.train_errors,
                                     reached=r.train_errors <= target, time_s=round(t, 3)))
                    print(rows[-1], flush=True)
    with atomic_output(args.out) as tmp, open(tmp, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)
    plot(rows, str(Path(args.out).with_suffix(".png")))
    print("\n| n | h | target | method | reached | median time s | max time s |\n|---|---|---|---|---|---|---|")
    for key in dict.fromkeys((r["n"], r["hidden"], r["method"]) for r in rows):
        rs = [r for r in rows if (r["n"], r["hidden"], r["method"]) == key]
        print(f"| {key[0]} | {key[1]} | {rs[0]['target']} ({rs[0]['target_kind']}) | {key[2]} | "
              f"{sum(r['reached'] for r in rs)}/{len(rs)} | {np.median([r['time_s'] for r in rs]):.2f} | "
              f"{max(r['time_s'] for r in rs):.2f} |")
    for m in dict.fromkeys(r["method"] for r in rows):
        f = fit_power_law(rows, m)
        print(f"fit {m}: " + ("too few reached configurations" if f is None else
                                f"t ≈ {f[0]:.3g} · n^{f[1]:.2f} · h^{f[2]:.2f}  ({f[3]} configurations)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
