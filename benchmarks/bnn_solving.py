"""Benchmark: move-based BNN solving vs generic QUBO solvers and baselines (issue 5).

Tasks (scikit-learn digits, one class pair at a time, ±1 pixels thresholded at the training mean;
training set stratified with split seed 0, the rest of the pair is the test set):

* ``ref``: 4x4 average-pooled, 50 samples, [16, 4, 1] with bias (the reference task);
* ``mid``: 4x4, 200 samples, [16, 8, 1];
* ``big``: raw 8x8, 100 samples, [64, 8, 1].

Per (task, pair, seed), side by side in one process: STE BNN (Adam, best of 5 seeds) first, whose
wall time x ``--budget-factor`` is the budget of every move strategy and of the generic solvers
(ours SA / dSB, dwave-samplers SA, the simulated-bifurcation package); greedy weight-flip
(200 restarts). Per (task, pair) HiGHS first tries to prove the minimum training error with
the exact MILP (``qbnn.bnn_solving.exact_milp``, warm-started with one STE run); a proven optimum
is the strategies' stopping rule (``target``), so their wall time can be below the budget.
Training errors are always the decoded network's forward pass. Writes
``benchmarks/out/bnn_solving.csv`` (one row per run; ``opt`` / ``bound`` columns repeat the MILP result).

    python benchmarks/bnn_solving.py [--tasks ref,mid,big] [--pairs 3v8,1v7] [--seeds 5]
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from qbnn.bnn_solving import solve_bnn
from qbnn.bnn_solving.exact_milp import solve_exact_milp
from qbnn.compiler import compile_bnn
from qbnn.topology import Topology

TASKS = {"ref": (4, 50, [16, 4, 1]), "mid": (4, 200, [16, 8, 1]), "big": (8, 100, [64, 8, 1])}
STRATS = ("ste-pt", "pt", "anneal-moves", "portfolio", "greedy-moves", "decode-reanneal")
GENERIC = ("ours-sa", "ours-dsb", "dwave-sa", "sbpkg-dsb")
SB_MAX_VARS = 6000  # the SB package needs a dense n x n matrix


def digits_task(n_train: int = 50, seed: int = 0, pair: tuple[int, int] = (3, 8), size: int = 4):
    """``(Xtr, ytr, Xte, yte)``: ±1 pixels, labels +1 for ``pair[1]``, −1 for ``pair[0]``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    m = np.isin(d.target, pair)
    imgs = d.images[m]
    if size == 4:
        imgs = imgs.reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4))
    imgs = imgs.reshape(len(imgs), -1)
    y = np.where(d.target[m] == pair[1], 1, -1).astype(np.int8)
    Xtr, Xte, ytr, yte = train_test_split(imgs, y, train_size=n_train, stratify=y, random_state=seed)
    thr = Xtr.mean()
    to_pm = lambda A: np.where(A >= thr, 1, -1).astype(np.int8)
    return to_pm(Xtr), ytr, to_pm(Xte), yte


def run_ste(topo, X, y, seed):
    from qbnn.baselines.ste import train_ste

    t0 = time.perf_counter()
    r = train_ste(topo, X, y, seed=seed * 10, seeds=5)
    return np.asarray(r["weights"]).astype(np.int8), time.perf_counter() - t0


def run_greedy(topo, X, y, seed):
    from qbnn.baselines.greedy import greedy_flip

    t0 = time.perf_counter()
    r = greedy_flip(topo, X, y, seed=seed, restarts=200)
    return np.asarray(r["weights"]).astype(np.int8), time.perf_counter() - t0


def run_generic(name, comp, seed, budget):
    """A generic solver on the raw QUBO; its best state decoded to weights. None if not applicable."""
    q = comp.qubo
    t0 = time.perf_counter()
    if name in ("ours-sa", "ours-dsb"):
        from qbnn.solvers import IsingProblem, solve

        r = solve(IsingProblem.from_qubo(q), name.split("-")[1], replicas=32, steps=100_000, time_limit=budget,
                  seed=seed, device="cpu", check_every=20)
        bits = r.best_bits
    elif name == "dwave-sa":
        import dimod
        from dwave.samplers import SimulatedAnnealingSampler

        bqm = dimod.BinaryQuadraticModel.from_numpy_vectors(q.linear, (q.rows, q.cols, q.values), q.offset, "BINARY")
        sweeps = 1000 if q.num_variables <= SB_MAX_VARS else 200  # 1000 sweeps x 10 reads took ~3 min at 10k vars
        ss = SimulatedAnnealingSampler().sample(bqm, num_reads=10, num_sweeps=sweeps, seed=seed)
        bits = np.array([ss.first.sample[i] for i in range(q.num_variables)], dtype=np.int8)
    elif name == "sbpkg-dsb":
        if q.num_variables > SB_MAX_VARS:
            return None
        import simulated_bifurcation as sbp

        Q = np.zeros((q.num_variables, q.num_variables), dtype=np.float32)
        Q[q.rows, q.cols] = q.values
        torch.manual_seed(seed)
        x, _ = sbp.minimize(torch.as_tensor(Q), torch.as_tensor(q.linear, dtype=torch.float32), float(q.offset),
                            domain="binary", agents=256, max_steps=20_000, mode="discrete", verbose=False,
                            timeout=budget)
        bits = x.numpy().astype(np.int8)
    else:
        raise ValueError(name)
    w = np.asarray(comp.decode(bits)).astype(np.int8)
    return w, time.perf_counter() - t0, int(np.sum(comp.violations(bits)))


def bench_task(task, pair, seeds, args):
    size, n, layers = TASKS[task]
    Xtr, ytr, Xte, yte = digits_task(n, pair=pair, size=size)
    topo = Topology.layered(layers, bias=True)
    comp = compile_bnn(topo, Xtr, ytr)
    name = f"{task}:digits{pair[0]}v{pair[1]}-{size}x{size}-n{n}-{layers}".replace(" ", "")
    print(f"== {name}: {comp.num_variables} QUBO variables", flush=True)
    rows, best_w = [], None
    opt = bound = milp_s = None
    if args.milp_time > 0:  # proven optimum first: a stopping rule for the strategies (it cannot be beaten)
        from qbnn.baselines.ste import train_ste

        w0 = np.asarray(train_ste(topo, Xtr, ytr, seed=12345, seeds=1)["weights"])
        m = solve_exact_milp(topo, Xtr, ytr, time_limit=args.milp_time, warm_weights=w0)
        bound, milp_s = m.bound, round(m.seconds, 2)
        opt = m.objective if m.optimal else None
        print(f"   MILP: {m.summary()}", flush=True)

    def add(method, seed, w, wall, budget, **kw):
        nonlocal best_w
        err = int(topo.training_loss(w, Xtr, ytr))
        if best_w is None or err < topo.training_loss(best_w, Xtr, ytr):
            best_w = w
        rows.append(dict(task=task, pair=f"{pair[0]}v{pair[1]}", name=name, n_vars=comp.num_variables, method=method,
                         seed=seed, train_errors=err, test_acc=round(topo.accuracy(w, Xte, yte), 4),
                         wall_s=round(wall, 3), budget_s=round(budget, 3), energy=kw.get("energy"),
                         violations=kw.get("violations"), t_best_s=kw.get("t_best_s")))
        print(rows[-1], flush=True)

    for seed in seeds:
        w, t_ste = run_ste(topo, Xtr, ytr, seed)
        budget = args.budget if args.budget else args.budget_factor * t_ste
        add("ste-best-of-5", seed, w, t_ste, t_ste)
        if "greedy" in args.methods:
            w, t = run_greedy(topo, Xtr, ytr, seed)
            add("greedy-200-starts", seed, w, t, t)
        for strat in STRATS:
            if strat not in args.methods:
                continue
            reps = 64 if strat == "greedy-moves" else args.replicas
            r = solve_bnn(comp, strat, replicas=reps, steps=10**7, time_limit=budget, seed=seed, target=opt)
            assert r.violations == 0 and abs(r.energy - float(comp.qubo.energy(r.state))) < 1e-6
            add(f"moves:{strat}", seed, r.weights, r.wall_time, budget, energy=r.energy, violations=r.violations,
                t_best_s=round(r.trace[-1][1], 3) if r.trace else None)
        for g in GENERIC:
            if g not in args.methods or seed >= args.generic_seeds:
                continue
            out = run_generic(g, comp, seed, budget)
            if out is not None:
                add(g, seed, out[0], out[1], budget, violations=out[2])
    if best_w is not None and bound is not None and opt is None:
        assert topo.training_loss(best_w, Xtr, ytr) >= bound  # nothing beats a proven lower bound
    for r in rows:
        r.update(opt=opt, bound=bound, milp_s=milp_s)
    return rows


def summarise(rows) -> str:
    """Markdown table: task × method, train errors mean±sd, test acc, wall s, gap to proven optimum."""
    out = ["| task | pair | method | train errors mean±sd (min) | test acc | wall s | budget s | gap to opt (bound) |",
           "|---|---|---|---|---|---|---|---|"]
    keys = dict.fromkeys((r["task"], r["pair"], r["method"]) for r in rows)
    for t, p, m in keys:
        rs = [r for r in rows if (r["task"], r["pair"], r["method"]) == (t, p, m)]
        e = np.array([r["train_errors"] for r in rs], dtype=float)
        opt, bnd = rs[0].get("opt"), rs[0].get("bound")
        if opt not in (None, ""):
            gap = f"{e.mean() - float(opt):.1f}"
        elif bnd not in (None, "") and float(bnd) > 0:
            gap = f"≤ {e.mean() - float(bnd):.1f} (bound {float(bnd):g})"
        else:
            gap = "not proven"
        out.append(f"| {t} | {p} | {m} | {e.mean():.1f} ± {e.std():.1f} ({int(e.min())}) | "
                   f"{np.mean([float(r['test_acc']) for r in rs]):.3f} | {np.mean([float(r['wall_s']) for r in rs]):.2f} | "
                   f"{np.mean([float(r['budget_s']) for r in rs]):.2f} | {gap} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tasks", default="ref,mid,big")
    ap.add_argument("--pairs", default="3v8,1v7")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=float, default=0.0, help="fixed seconds per run (0: STE wall x factor)")
    ap.add_argument("--budget-factor", type=float, default=1.0)
    ap.add_argument("--replicas", type=int, default=32)
    ap.add_argument("--methods", default=",".join(("greedy",) + STRATS + GENERIC))
    ap.add_argument("--milp-time", type=float, default=120.0)
    ap.add_argument("--generic-seeds", type=int, default=99,
                    help="run the generic QUBO solvers for the first N seeds only (they overrun budgets on big QUBOs)")
    ap.add_argument("--append", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "bnn_solving.csv"))
    args = ap.parse_args(argv)
    args.methods = set(args.methods.split(","))
    torch.set_num_threads(1)  # small tensors; the machine is shared
    from qbnn.io import atomic_output

    old = []
    if args.append and os.path.exists(args.out):
        with open(args.out, newline="") as f:
            old = list(csv.DictReader(f))
    rows = []
    for task in args.tasks.split(","):
        for p in args.pairs.split(","):
            a, b = (int(v) for v in p.split("v"))
            rows += bench_task(task, (a, b), range(args.seeds), args)
            with atomic_output(args.out) as tmp, open(tmp, "w", newline="") as f:  # after every pair
                wr = csv.DictWriter(f, fieldnames=list(rows[0]), extrasaction="ignore")
                wr.writeheader()
                wr.writerows(old + rows)
    print(summarise(old + rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
