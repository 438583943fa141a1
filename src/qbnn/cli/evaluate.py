"""``qbnn evaluate``: score a trained network (HDF5) on a dataset by an independent forward pass."""
from __future__ import annotations

import argparse
import math

import numpy as np

from qbnn.errors import QbnnError

HELP = "evaluate a trained network on a dataset (accuracy, exact loss, margins)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from qbnn.identity import add_identity_argument  # h5py: loaded with the options (cli._CommandParser)

    p.add_argument("network", help="trained network HDF5 (qbnn-network from decode / train / train-mip; a former "
                                    "qbnn-mip-network file is read too)")
    p.add_argument("--data", required=True, help="dataset HDF5 (/train/X, /train/y, /test/X, /test/y)")
    p.add_argument("--out", help="metrics JSON to write")
    add_identity_argument(p)
    p.add_argument("--label", action="append", default=[], metavar="KEY=VALUE",
                   help="extra key=value recorded in the metrics (repeatable), e.g. note=rerun; identity fields "
                        "(method, seed, ...) go in --identity")


def parse_labels(items: list[str]) -> dict:
    from qbnn.identity import Identity

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise QbnnError(f"--label must look like KEY=VALUE, got {item!r}")
        if key in out:
            raise QbnnError(f"--label {key} given twice")
        if key in Identity.names():
            raise QbnnError(f"--label {key}: an identity field, give it with --identity {key}=...")
        out[key] = _label_value(value)
    return out


def _label_value(value: str):
    """An int, a finite float, or the text itself ("nan"/"inf" stay text: JSON has no NaN)."""
    try:
        return int(value)
    except ValueError:
        pass
    try:
        v = float(value)
    except ValueError:
        return value
    return v if math.isfinite(v) else value


def run(args: argparse.Namespace) -> dict:
    from qbnn.errors import QbnnError
    from qbnn.data import load_dataset
    from qbnn.evaluate import evaluate_network
    from qbnn.identity import Identity, provenance
    from qbnn.run_metrics import RunMetrics
    from qbnn.task import code_labels
    from qbnn.topology import Network

    labels = parse_labels(args.label)
    net = Network.load(args.network)  # also a former qbnn-mip-network file, converted
    mip = net.topology.activation == "step"
    if mip:  # MIP networks (train-mip): step activations, real weights, real or ±1 inputs
        from qbnn.evaluate import evaluate_mip_network
        from qbnn.mip.robust import EPSILONS

        Xtr, ytr, Xte, yte, attrs = load_dataset(args.data, real=True)
        if Xtr.shape[1] != net.topology.n_inputs:
            raise QbnnError(f"{args.data}: {Xtr.shape[1]} features but network {args.network} takes {net.topology.n_inputs}")
        n_out = net.topology.n_outputs
        ytr, yte = (code_labels(np.asarray(v).astype(int), n_out) for v in (ytr, yte))
        metrics = evaluate_mip_network(net, Xtr, ytr, Xte, yte, attack=EPSILONS)
        if "method" in net.metadata:
            metrics["method"] = f"mip_{net.metadata['method']}"
    else:
        Xtr, ytr, Xte, yte, attrs = load_dataset(args.data)
        metrics = evaluate_network(net, Xtr, ytr, Xte, yte)
    metrics["network"] = str(args.network)
    metrics["data"] = str(args.data)
    clash = sorted(set(labels) & set(metrics))
    if clash:
        raise QbnnError(f"--label {', '.join(clash)}: a label cannot replace a measured value")
    metrics.update(labels)
    # identity: the network's metadata (older files), its identity record, then the rule's --identity
    meta = {} if mip else net.metadata  # a MIP network's metadata 'method' is its algorithm, not the run's
    identity = Identity.from_dict({k: meta[k] for k in ("method", "seed", "solver", "margin") if k in meta},
                                  f"network file {args.network}")
    identity = identity.updated(Identity(method=metrics.pop("method", None))).updated(net.identity)
    identity = identity.updated(args.identity)
    record = RunMetrics({k: v for k, v in metrics.items() if k not in identity.names()}, identity,
                        provenance(attrs))
    if args.out:
        record.save(args.out)
    summary = {k: metrics.get(k) for k in ("train_accuracy", "test_accuracy", "train_errors", "test_errors", "margin_mean",
                                       "constant_predictor")}
    summary.update(labels)
    summary.update(identity.to_dict())
    summary["out"] = args.out
    return summary
