"""``qbnn dropout-subnetwork``: solve subnetwork k of a dropout round (one workflow job)."""
from __future__ import annotations

import argparse

from qbnn import validate as V

from qbnn.cli.dropout_penalties import add_round_arguments

HELP = "solve one sampled subnetwork k of a dropout round; qbnn dropout-penalties --subnetworks combines them"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_round_arguments(p)
    p.add_argument("--k", type=V.non_negative_int, required=True, help="subnetwork index within the round (0..K-1)")
    p.add_argument("--out", required=True, help="output subnetwork HDF5 (/map, /weights)")


def run(args: argparse.Namespace) -> dict:
    from qbnn.dropout import Penalties, make_solve_fn, save_subnetwork, solve_subnetwork
    from qbnn.dropout_files import round_identity
    from qbnn.task import load_task

    topo, X, y, _, _, _ = load_task(args.data, args.network)
    prev = Penalties.load(args.previous, topo.n_weights).h if args.previous else None
    sol = solve_subnetwork(topo, X, y, prev, k=args.k, p=args.p, unit=args.unit, seed=args.seed,
                           round_index=args.round, margin=args.margin,
                           solve_fn=make_solve_fn(args.solver, time_limit=args.time_limit, device=args.device,
                                                  strategy=args.strategy, replicas=args.replicas, steps=args.steps))
    save_subnetwork(args.out, sol, {**round_identity(topo, args), "n_weights": topo.n_weights,
                                    "previous": args.previous or ""})
    return {"out": args.out, "round": args.round, "k": args.k, "sub_weights": int(sol.weights.size),
            "n_weights": topo.n_weights, "errors": sol.errors}
