"""``qbnn baseline``: STE / greedy BNN training and full-precision references on a dataset."""
from __future__ import annotations

import argparse

from qbnn import validate as V

HELP = "train a baseline (ste, greedy, ste_greedy, mlp, logreg, dnn) on a dataset and topology"
#: options naming files this command writes (checked before work, committed all or none)
OUTPUTS = ("out", "net_out")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from qbnn.identity import add_identity_argument  # h5py: loaded with the options (cli._CommandParser)

    p.add_argument("--data", required=True, help="dataset HDF5")
    p.add_argument("--network", required=True, help="topology YAML")
    p.add_argument("--method", required=True, choices=["ste", "greedy", "ste_greedy", "mlp", "logreg", "dnn"])
    p.add_argument("--seed", type=V.seed, default=0)
    p.add_argument("--epochs", type=V.non_negative_int, help="STE / MLP / DNN epochs (default 300 / 500 / 30)")
    p.add_argument("--restarts", type=V.count, help="STE seeds or greedy random restarts (default 3 / 5)")
    p.add_argument("--lr", type=V.positive, help="learning rate (STE / MLP)")
    p.add_argument("--time-limit", type=V.seconds, help="greedy: stop after this many seconds")
    p.add_argument("--out", required=True, help="metrics JSON")
    add_identity_argument(p)
    p.add_argument("--net-out", help="trained BNN HDF5 (ste, greedy, ste_greedy only)")


def run(args: argparse.Namespace) -> dict:
    import numpy as np

    from qbnn.baselines import BNN_METHODS, run_baseline
    from qbnn.errors import QbnnError
    from qbnn.identity import Identity, provenance
    from qbnn.run_metrics import RunMetrics
    from qbnn.task import load_task
    from qbnn.topology import Network

    if args.net_out and args.method not in BNN_METHODS:
        raise QbnnError(f"--net-out needs a BNN method (ste, greedy, ste_greedy), not {args.method}")
    # real-valued data (encoding: real) suits the full-precision references; BNN methods need ±1
    topo, Xtr, ytr, Xte, yte, data = load_task(args.data, args.network, real=args.method in ("mlp", "logreg", "dnn"))
    kw = {}
    if args.time_limit is not None and args.method == "greedy":
        kw["time_limit"] = args.time_limit
    res = run_baseline(args.method, topo, Xtr, ytr, Xte, yte, seed=args.seed, epochs=args.epochs,
                       restarts=args.restarts, lr=args.lr, **kw)
    res["data"] = str(args.data)
    res["n_train"] = int(len(ytr))
    res["network"] = str(args.network)
    weights = res.pop("weights", None)
    if weights is not None:
        from qbnn.evaluate import constant_predictor

        res["weights"] = [int(v) for v in weights]
        res["constant_predictor"] = constant_predictor(topo, np.asarray(weights), Xtr, Xte)
    if "per_seed_errors" in res:
        res["per_seed_errors"] = {str(k): v for k, v in res["per_seed_errors"].items()}
    identity = Identity(method=args.method, seed=int(args.seed)).updated(args.identity)
    if args.net_out:
        Network(topo, np.asarray(weights), {"method": args.method, "seed": int(args.seed)}, identity).save(args.net_out)
    res.update(identity.to_dict())
    values = {k: v for k, v in res.items() if k not in Identity.names()}
    RunMetrics(values, identity, provenance(data.attrs)).save(args.out)
    return {k: res.get(k) for k in ("method", "seed", "train_accuracy", "test_accuracy", "train_errors", "seconds",
                                         "constant_predictor") if k in res} | {
        "out": args.out,
        "net_out": args.net_out,
    }
