"""``qbnn maxcut``: MaxCut on a G-set graph with a PyTorch Ising machine (time to target)."""
from __future__ import annotations

import argparse

from qbnn import validate as V

HELP = "MaxCut on a G-set format graph with an Ising machine; stops early at --target"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("graph", help="graph file: 'N E' then 'i j w' per edge (1-indexed)")
    p.add_argument("--solver", default="sb", choices=("sb", "dsb", "sa", "ma", "exhaustive"))
    p.add_argument("--time-limit", type=V.seconds, default=None, help="seconds (restarts until spent)")
    p.add_argument("--target", type=V.finite, default=None, help="stop once a cut of this weight is found")
    p.add_argument("--seed", type=V.seed, default=0)
    p.add_argument("--replicas", type=V.count, default=64)
    p.add_argument("--steps", type=V.count, default=1000)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")


def run(args: argparse.Namespace) -> dict:
    from qbnn.memory import guard_maxcut
    from qbnn.solvers import resolve_device
    from qbnn.solvers.maxcut import solve_maxcut

    dev = resolve_device(args.device)
    guard_maxcut(args.graph, args.replicas, args.solver, dev, steps=args.steps)  # before reading the edges
    opts = {}
    if args.solver != "exhaustive":
        opts = dict(replicas=args.replicas, steps=args.steps, time_limit=args.time_limit, seed=args.seed,
                    device=args.device)
    prob, res, cut = solve_maxcut(args.graph, args.solver, target_cut=args.target, **opts)
    out = {"graph": str(args.graph), "solver": args.solver, "best_cut": cut, "seconds_to_best": res.seconds_to_best,
           "seconds": res.seconds, "num_nodes": prob.n, "num_edges": prob.num_couplings}
    if args.target is not None:
        out["target"] = args.target
        out["reached_target"] = bool(cut >= args.target - 1e-9)
    return out
