"""``qbnn maxcut``: MaxCut on a G-set graph with a PyTorch Ising machine (time to target)."""
from __future__ import annotations

import argparse
import math

import numpy as np

from qbnn import solver_registry as registry
from qbnn import validate as V
from qbnn.errors import QbnnError
from qbnn.validate import reading

#: generic Ising machines and the exhaustive reference (BNN strategies need a compiled BNN QUBO)
MAXCUT_SOLVERS = registry.names("ising") + ("exhaustive",)

HELP = "MaxCut on a G-set format graph with an Ising machine; stops early at --target"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("graph", help="graph file: 'N E' then 'i j w' per edge (1-indexed)")
    p.add_argument("--solver", default=registry.AUTO_GENERIC, choices=MAXCUT_SOLVERS,
                   help=f"default {registry.AUTO_GENERIC}: the fastest of ours on the G-set benchmark (docs/solvers.md)")
    p.add_argument("--time-limit", type=V.seconds, default=None, help="seconds (restarts until spent)")
    p.add_argument("--target", type=V.finite, default=None, help="stop once a cut of this weight is found")
    p.add_argument("--seed", type=V.seed, default=0)
    p.add_argument("--replicas", type=V.count, default=None,
                   help="default: sa per qbnn.solvers.sa_schedule (1 on the CPU), others the registry's "
                        f"({registry.REPLICAS})")
    p.add_argument("--steps", type=V.count, default=None,
                   help="sweeps/steps per anneal; default: sa 100, growing per restart (sa_schedule); others the "
                        f"registry's ({registry.STEPS})")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")


def run(args: argparse.Namespace) -> dict:
    from qbnn.solvers.maxcut import guard_maxcut
    from qbnn.solvers import resolve_device
    from qbnn.solvers.maxcut import solve_maxcut

    dev = resolve_device(args.device)
    spec = registry.get(args.solver)
    # without --replicas/--steps: the registry's defaults (sa: its schedule rule, which stays below them)
    replicas = spec.replicas if args.replicas is None else args.replicas
    steps = spec.steps if args.steps is None else args.steps
    guard_maxcut(args.graph, replicas or 1, args.solver, dev, steps=steps or 0)  # before reading the edges
    opts = {}
    if spec.replicas is not None:
        opts = dict(replicas=args.replicas, steps=args.steps, time_limit=args.time_limit, seed=args.seed,
                    device=args.device)
        if args.solver != "sa":  # sa fills these from its schedule rule
            opts.update(replicas=replicas, steps=steps)
    check_graph(args.graph)  # garbage, binary or inconsistent files are refused here, with the file's name
    prob, res, cut = solve_maxcut(args.graph, args.solver, target_cut=args.target, **opts)
    out = {"graph": str(args.graph), "solver": args.solver, "best_cut": cut, "seconds_to_best": res.seconds_to_best,
           "seconds": res.seconds, "num_nodes": prob.n, "num_edges": prob.num_couplings}
    if args.target is not None:
        out["target"] = args.target
        out["reached_target"] = bool(cut >= args.target - 1e-9)
    return out


def check_graph(path) -> None:
    """Validate a G-set graph file: UTF-8 text, ``N E`` header, E rows ``i j [w]`` of 1-based indices
    and finite weights (the solver's reader then gets only files it handles)."""
    from qbnn.solvers.problem import IsingProblem

    with reading(path, "graph file"):
        with open(path, "rb") as f:
            head = f.readline(4096).decode("utf-8").split()
            if len(head) < 2 or not (head[0].isdigit() and head[1].isdigit()):
                raise QbnnError(f"graph file {path}: first line must be 'N E' (nodes, edges)")
        prob = IsingProblem.from_gset(path)
        if not (np.isfinite(prob.J.data).all() and math.isfinite(prob.meta.get("weight_sum", 0.0))):
            raise QbnnError(f"graph file {path}: edge weights must be finite")
