"""``qbnn compile``: training data + topology -> exact training QUBO (HDF5)."""
from __future__ import annotations

import argparse
import time

from qbnn import validate as V

HELP = "compile exact BNN training on a dataset into a QUBO HDF5 file"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from qbnn.identity import add_identity_argument  # h5py: loaded with the options (cli._CommandParser)

    p.add_argument("--data", required=True, help="dataset HDF5 (qbnn binarise, or a plain /train/X ±1, /train/y)")
    p.add_argument("--network", required=True, help="topology YAML")
    p.add_argument("--out", required=True, help="output QUBO HDF5")
    p.add_argument("--margin", type=V.non_negative, default=0.0, help="margin-regulariser weight λ >= 0 (default 0)")
    p.add_argument("--penalty", type=V.positive, default=None,
                   help="constraint penalty weight (default: the exactness bound; smaller is an error)")
    p.add_argument("--weight-penalties", default=None,
                   help="linear weight penalties h (.npy, or .h5 with dataset /weight_penalties or /h), one per weight")
    add_identity_argument(p)


def run(args: argparse.Namespace) -> dict:
    from qbnn.compiler import compile_bnn, save_compiled
    from qbnn.dropout_files import Penalties
    from qbnn.identity import Identity, provenance
    from qbnn.task import load_task

    topo, X, y, _, _, data = load_task(args.data, args.network)
    h = Penalties.load(args.weight_penalties).h if args.weight_penalties else None
    t0 = time.perf_counter()
    cb = compile_bnn(topo, X, y, margin=args.margin, weight_penalties=h, penalty=args.penalty)
    seconds = time.perf_counter() - t0
    # the QUBO's identity (dataset, topology, λ, dropout) and provenance travel with it to solve and decode
    cb.qubo.attrs["identity"] = Identity(margin=args.margin).updated(args.identity).to_dict()
    cb.qubo.attrs["provenance"] = provenance(data.attrs)
    save_compiled(cb, args.out)
    q = cb.qubo
    return {
        "out": args.out,
        "variables": q.num_variables,
        "interactions": q.num_interactions,
        "weights": topo.n_weights,
        "samples": int(X.shape[0]),
        "penalty": cb.penalty,
        "penalty_min": cb.penalty_min,
        "margin": cb.margin,
        "compile_seconds": round(seconds, 4),
    }
