"""``qbnn dropout-penalties``: one round of dropout-inspired penalties (``docs/dropout.md``)."""
from __future__ import annotations

import argparse

import numpy as np

from qbnn import solver_registry as registry
from qbnn import validate as V
from qbnn.errors import QbnnError


HELP = "one dropout round: solve K sampled subnetworks and write per-weight linear penalties h"


def add_round_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments shared with ``qbnn dropout-subnetwork`` (one subnetwork of a round)."""
    p.add_argument("--data", required=True, help="binarised dataset HDF5 (/train/X, /train/y)")
    p.add_argument("--network", required=True, help="topology YAML")
    p.add_argument("--round", type=V.non_negative_int, default=0, help="round index r (seeds the sampling; default 0)")
    p.add_argument("--previous", help="penalties HDF5 of round r-1 (its /h biases this round's subproblems)")
    p.add_argument("--p", "-p", dest="p", type=V.probability, default=0.5, help="drop probability (default 0.5)")
    p.add_argument("--unit", choices=("neuron", "edge"), default="neuron", help="what to drop (default neuron)")
    p.add_argument("--seed", type=V.seed, default=0)
    p.add_argument("--margin", type=V.non_negative, default=0.0, help="margin passed to the compiler (default 0)")
    p.add_argument("--solver", choices=("auto", "bnn", "greedy"), default="auto",
                   help="subnetwork solver: auto (qbnn.bnn_solving if installed, else greedy), bnn, greedy")
    p.add_argument("--strategy", choices=registry.names("bnn"), default=registry.SUBNETWORK_DEFAULTS["solver"],
                   help="BNN strategy of the bnn solver (default %(default)s; config dropout.solver)")
    p.add_argument("--replicas", type=V.count, default=registry.SUBNETWORK_DEFAULTS["replicas"],
                   help="replicas of the bnn solver (default %(default)s)")
    p.add_argument("--steps", type=V.count, default=registry.SUBNETWORK_DEFAULTS["steps"],
                   help="steps of the bnn solver (default %(default)s)")
    p.add_argument("--time-limit", type=V.seconds, default=5.0,
                   help="seconds per subnetwork (default 5); 'none': a fixed step budget, bit-reproducible per seed")
    p.add_argument("--device", default="cpu", help="torch device for the bnn solver (cpu, cuda)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_round_arguments(p)
    p.add_argument("--K", "-K", dest="K", type=V.count, default=4, help="subnetworks per round (default 4)")
    p.add_argument("--beta", type=V.non_negative, default=1.0, help="penalty strength beta (default 1)")
    p.add_argument("--subnetworks", nargs="+", metavar="SUB.h5",
                   help="combine these solved subnetworks (qbnn dropout-subnetwork) instead of solving K here")
    p.add_argument("--out", required=True, help="output penalties HDF5 (/h float64 (n_weights,))")


def run(args: argparse.Namespace) -> dict:
    from qbnn.dropout import (DropoutRound, Penalties, dropout_round, load_subnetwork, make_solve_fn,
                              penalties_from_solutions)
    from qbnn.dropout_files import check_round_identity, round_identity
    from qbnn.identity import Identity
    from qbnn.task import load_task

    topo, X, y, _, _, _ = load_task(args.data, args.network)
    if args.subnetworks:  # the workflow: K subnetwork jobs ran already, combine their solutions
        maps, sols, errs, ks = [], [], [], set()
        identity = round_identity(topo, args)
        for path in args.subnetworks:
            m, w, a = load_subnetwork(path, topo.n_weights)
            check_round_identity(path, a, identity)
            if int(a["k"]) in ks:
                raise QbnnError(f"{path}: subnetwork k={a['k']} given twice")
            ks.add(int(a["k"]))
            maps.append(m), sols.append(w), errs.append(int(a["errors"]))
        h, mean, count = penalties_from_solutions(topo.n_weights, sols, maps, args.beta)
        rd = DropoutRound(args.round, h, mean, count, [], maps, sols, errs, 0.0)
        K = len(sols)
    else:
        prev = Penalties.load(args.previous, topo.n_weights).h if args.previous else None
        solve_fn = make_solve_fn(args.solver, time_limit=args.time_limit, device=args.device, strategy=args.strategy,
                                 replicas=args.replicas, steps=args.steps)
        rd = dropout_round(topo, X, y, prev, K=args.K, p=args.p, beta=args.beta, unit=args.unit,
                           seed=args.seed, solve_fn=solve_fn, margin=args.margin, round_index=args.round)
        K = args.K
    attrs = {"round": args.round, "K": K, "p": args.p, "beta": args.beta, "unit": args.unit,
             "seed": args.seed, "margin": args.margin, "solver": args.solver, "n_weights": topo.n_weights,
             "previous": args.previous or "", "topology": topo.to_json(),
             "rule": "h_w = -beta * mean over sampled subnetworks containing w of their solution w (0 if never sampled)"}
    extra = {"mean": rd.mean, "count": rd.count,
             "weight_labels": np.array(topo.weight_labels(), dtype="S")}
    own = Identity(margin=args.margin, dropout=True, dropout_round=args.round, seed=args.seed)
    Penalties(rd.penalties, attrs, extra, own).save(args.out)
    return {"out": args.out, **rd.summary(), "p": args.p, "beta": args.beta, "unit": args.unit}
