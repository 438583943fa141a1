"""Benchmark: move-based BNN solving vs baselines on digits 3 vs 8 (4x4, [16,4,1] bias).

Reference task (see /work/shared/research/bnn-qubo-measurements.md): scikit-learn digits 3 vs 8,
average-pooled 8x8 -> 4x4, thresholded at the (training) mean to ±1; 50 training samples stratified
(seed 0), the rest test. Writes ``benchmarks/out/bnn_solving.csv``.

    python benchmarks/bnn_solving.py [--seeds 3] [--budget 3] [--quick]
"""
from __future__ import annotations

import argparse
import csv
import importlib
import os
import sys
import time
from pathlib import Path

import numpy as np

from qbnn.bnn_solving import BNNProblem, solve_bnn
from qbnn.topology import Topology


def digits_task(n_train: int = 50, seed: int = 0):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    m = np.isin(d.target, (3, 8))
    imgs = d.images[m].reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 16)
    y = np.where(d.target[m] == 8, 1, -1).astype(np.int8)
    Xtr, Xte, ytr, yte = train_test_split(imgs, y, train_size=n_train, stratify=y, random_state=seed)
    thr = Xtr.mean()
    to_pm = lambda A: np.where(A >= thr, 1, -1).astype(np.int8)
    return to_pm(Xtr), ytr, to_pm(Xte), yte


def compile_problem(topo, X, y, margin=0.0):
    """CompiledBNN when the compiler is available (its exact objective and QUBO), else loss-only."""
    try:
        comp = importlib.import_module("qbnn.compiler")
        c = comp.compile_bnn(topo, X, y, margin=margin)
        for a, v in (("topology", topo), ("X", X), ("y", y)):
            if not hasattr(c, a):
                try:
                    setattr(c, a, v)
                except Exception:
                    pass
        return c, "compiled"
    except Exception as exc:  # compiler not present / incompatible
        print(f"[bnn_solving] compiler unavailable ({type(exc).__name__}: {exc}); loss-only objective", file=sys.stderr)
        return BNNProblem(topo, X, y), "loss-only"


def run_ste(topo, X, y, seed):
    try:
        from qbnn.baselines.ste import train_ste
    except Exception:
        return None
    t0 = time.perf_counter()
    r = train_ste(topo, X, y, seed=seed * 10, seeds=5)
    return np.asarray(r["weights"]).astype(np.int8), time.perf_counter() - t0


def run_greedy(topo, X, y, seed):
    try:
        from qbnn.baselines.greedy import greedy_flip
    except Exception:
        return None
    t0 = time.perf_counter()
    r = greedy_flip(topo, X, y, seed=seed, restarts=200)
    return np.asarray(r["weights"]).astype(np.int8), time.perf_counter() - t0


def run_generic_sa(problem, seed, budget):
    """Generic SA (qbnn.solvers) on the raw QUBO, best state decoded to weights."""
    qubo = getattr(problem, "qubo", None)
    if qubo is None:
        return None
    try:
        from qbnn.solvers import IsingProblem, solve
    except Exception:
        return None
    t0 = time.perf_counter()
    r = solve(IsingProblem.from_qubo(qubo), "sa", replicas=32, steps=2000, time_limit=budget, seed=seed, device="cpu",
              check_every=50)
    return np.asarray(problem.decode(r.best_bits)).astype(np.int8), time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budget", type=float, default=3.0, help="seconds per strategy run")
    ap.add_argument("--replicas", type=int, default=32)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--append", action="store_true", help="append rows to an existing CSV")
    ap.add_argument("--n-train", type=int, default=50)
    ap.add_argument("--hidden", type=int, default=4)
    ap.add_argument("--margin", type=float, default=0.0)
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "bnn_solving.csv"))
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)  # small tensors; the machine is shared
    Xtr, ytr, Xte, yte = digits_task(args.n_train)
    topo = Topology.layered([16, args.hidden, 1], bias=True)
    problem, kind = compile_problem(topo, Xtr, ytr, args.margin)
    task = f"digits3v8-4x4-n{args.n_train}-[16,{args.hidden},1]-margin{args.margin:g}"
    rows = []
    for seed in range(args.seeds):
        for strat in ("pt", "anneal-moves", "portfolio", "greedy-moves", "decode-reanneal"):
            reps = 64 if strat == "greedy-moves" else args.replicas
            r = solve_bnn(problem, strat, replicas=reps, steps=args.steps, time_limit=args.budget, seed=seed)
            rows.append(dict(task=task, method=f"moves:{strat}", seed=seed, objective_kind=kind, train_errors=r.train_errors,
                             objective=r.objective, energy=r.energy, violations=r.violations,
                             test_acc=topo.accuracy(r.weights, Xte, yte), wall_s=round(r.wall_time, 3),
                             t_best_s=round(r.trace[-1][1], 3) if r.trace else None))
            print(rows[-1], flush=True)
        for bname, bfn in (("ste-best-of-5", run_ste), ("greedy-200-starts", run_greedy)):
            b = bfn(topo, Xtr, ytr, seed)
            if b is None:
                continue
            w, t = b
            rows.append(dict(task=task, method=bname, seed=seed, objective_kind=kind, train_errors=int(topo.training_loss(w, Xtr, ytr)),
                             objective=None, energy=None, violations=None, test_acc=topo.accuracy(w, Xte, yte), wall_s=round(t, 3), t_best_s=None))
            print(rows[-1], flush=True)
        sa = run_generic_sa(problem, seed, args.budget)
        if sa is not None:
            w, t = sa
            rows.append(dict(task=task, method="generic-sa-qubo", seed=seed, objective_kind=kind, train_errors=int(topo.training_loss(w, Xtr, ytr)),
                             objective=None, energy=None, violations=None, test_acc=topo.accuracy(w, Xte, yte), wall_s=round(t, 3), t_best_s=None))
            print(rows[-1], flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    new = not os.path.exists(args.out) or not args.append
    with open(args.out, "w" if new else "a", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0]))
        if new:
            wr.writeheader()
        wr.writerows(rows)
    # summary
    print(f"\n{task}\nmethod | train errors (per seed) | mean test acc | mean wall s")
    for m in dict.fromkeys(r["method"] for r in rows):
        rs = [r for r in rows if r["method"] == m]
        print(f"{m} | {[r['train_errors'] for r in rs]} | {np.mean([r['test_acc'] for r in rs]):.3f} | {np.mean([r['wall_s'] for r in rs]):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
