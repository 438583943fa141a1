"""``qbnn train-mip``: train a layered step-activation network by mixed-integer programming."""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from qbnn import validate as V
from qbnn.errors import QbnnError

HELP = "train a layered network by mixed-integer programming (exact MILP, local search, data splitting)"
#: options naming files this command writes (checked before work, committed all or none)
OUTPUTS = ("out", "metrics", "write_model")

PAPER_BATCH = 64  # `--batch-size paper`: Kurtz & Bah re-solve each split on 64 random points


def add_arguments(p: argparse.ArgumentParser) -> None:
    from qbnn.identity import add_identity_argument  # h5py: loaded with the options (cli._CommandParser)

    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="dataset HDF5 (qbnn-data, binary or real encoding; its /val split, if any, "
                                    "selects the split model)")
    src.add_argument("--dataset", help="built-in dataset: breast_cancer | digits | digits_3v8 | planted")
    p.add_argument("--network", help="YAML with 'layers: [d, h..., C]' (d is taken from the data; "
                                     "with --dataset planted it sets the planted width)")
    p.add_argument("--method", default="exact", help="exact | local | split (default exact)")
    p.add_argument("--variant", metavar="NAME", help="name of the variant: the metrics' method is mip_NAME "
                                                    "(default NAME: --method), e.g. split-paper; the algorithm is "
                                                    "recorded as 'algorithm'")
    p.add_argument("--weights", default="continuous", choices=["continuous", "integer"],
                   help="real weights in [-P, P] or integers in [-P, P] (default continuous)")
    p.add_argument("--integer", action="store_true", help="same as --weights integer")
    p.add_argument("--weight-bound", type=float, default=1.0, metavar="P", help="weights in [-P, P] (default 1)")
    p.add_argument("--bias-bound", type=float, default=None, metavar="B",
                   help="biases in [-B, B] (default: per layer, large enough to be no restriction)")
    p.add_argument("--reg-weight", type=float, default=0.0, metavar="LAMBDA",
                   help="add LAMBDA * sum of squared weights to the loss (default 0)")
    p.add_argument("--robust", type=V.non_negative, default=0.0, metavar="RHO",
                   help="l_inf radius the first-layer activations must withstand (default 0); "
                        "a robust run also reports accuracy under attacks (see --attack)")
    p.add_argument("--attack", type=float, nargs="+", metavar="EPS",
                   help="attack sizes to report test accuracy under (default for robust runs: 0 0.5 1 1.5 2)")
    p.add_argument("--time-limit", type=V.positive, default=60.0, metavar="S")
    p.add_argument("--mip-gap", type=V.non_negative, default=1e-4, metavar="G")
    p.add_argument("--seed", type=V.seed, default=0)
    p.add_argument("--split-init", default="class", help="split: start with one group per class (class) or one (one)")
    p.add_argument("--max-splits", type=int, default=20, help="split: at most this many splits (default 20)")
    p.add_argument("--kmeans-init", type=int, default=3, help="split: k-means initialisations per split (default 3; paper 25)")
    p.add_argument("--batch-size", default=None, metavar="N|paper",
                   help=f"split: solve each split's MILP on N random training points ('paper' = {PAPER_BATCH}; default all)")
    p.add_argument("--iterations", type=int, default=6, help="local: alternation rounds (default 6)")
    p.add_argument("--threads", type=V.count, default=1, help="HiGHS threads (default 1)")
    p.add_argument("--solve-limit", type=V.positive, default=None, metavar="S",
                   help="split: seconds per grouped solve (default half the remaining time)")
    p.add_argument("--n-train", type=V.count, default=40, help="training size for --dataset")
    p.add_argument("--n-test", type=V.count, default=200, help="test size for --dataset")
    p.add_argument("--out", required=True, help="output network HDF5")
    p.add_argument("--metrics", help="also write the summary JSON to this file")
    p.add_argument("--write-model", metavar="MODEL.mps",
                   help="--method exact: also write the training MILP (.mps or .lp, HiGHS writeModel) for Gurobi, "
                        "CPLEX or SCIP")
    p.add_argument("--read-solution", metavar="SOL",
                   help="--method exact: do not solve; read an outside solver's solution file (Gurobi/SCIP/CBC "
                        "'NAME VALUE' lines or a HiGHS solution file) of the model --write-model writes with the "
                        "same data and options, and save its network (objective recomputed by the forward pass)")
    add_identity_argument(p)


def _layers(path, d, n_out):
    """-> (layers, bias) from a layered topology YAML (``layers: [...]``, optional ``bias``)."""
    import yaml

    from qbnn.io import require_file

    if path is None:
        return [d, 3, n_out], True

    p = require_file(path, "network file")
    try:
        spec = yaml.safe_load(Path(p).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise QbnnError(f"network file {p}: invalid YAML ({exc.__class__.__name__})") from None
    except UnicodeDecodeError:
        raise QbnnError(f"network file {p} is not UTF-8 text") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("layers"), list) or len(spec["layers"]) < 2:
        raise QbnnError(f"network file {p}: MIP training needs a layered topology 'layers: [d, h..., C]'")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in spec["layers"]):
        raise QbnnError(f"network file {p}: 'layers' must be positive integers, got {spec['layers']}")
    layers = [int(v) for v in spec["layers"]]
    if d is not None:
        layers[0] = d
    if n_out is not None and layers[-1] != n_out:
        raise QbnnError(f"network file {p}: output width {layers[-1]} but the data needs {n_out}")
    bias = spec.get("bias", True)
    if not isinstance(bias, bool):
        raise QbnnError(f"network file {p}: 'bias' must be true or false for MIP training")
    return layers, bias


def _batch_size(v):
    if v is None:
        return None
    if v == "paper":
        return PAPER_BATCH
    try:
        n = int(v)
    except ValueError:
        raise QbnnError(f"--batch-size must be a positive integer or 'paper', got {v!r}") from None
    if n < 1:
        raise QbnnError(f"--batch-size must be a positive integer or 'paper', got {v!r}")
    return n


def _check(args):
    from qbnn.mip import METHODS

    if args.method not in METHODS:
        raise QbnnError(f"unknown method {args.method!r} (choose from {', '.join(METHODS)})")
    numbers = {"--time-limit": args.time_limit, "--robust": args.robust, "--mip-gap": args.mip_gap,
               "--weight-bound": args.weight_bound, "--reg-weight": args.reg_weight,
               "--bias-bound": args.bias_bound, "--solve-limit": args.solve_limit}
    for name, v in numbers.items():
        if v is not None and not math.isfinite(v):
            raise QbnnError(f"{name} must be a finite number, got {v}")
    for name, v in (("--time-limit", args.time_limit), ("--weight-bound", args.weight_bound),
                    ("--solve-limit", args.solve_limit)):
        if v is not None and v <= 0:
            raise QbnnError(f"{name} must be positive, got {v:g}")
    for name, v in (("--robust", args.robust), ("--mip-gap", args.mip_gap), ("--reg-weight", args.reg_weight),
                    ("--bias-bound", args.bias_bound)):
        if v is not None and v < 0:
            raise QbnnError(f"{name} must be >= 0, got {v:g}")
    integer = args.integer or args.weights == "integer"
    if integer and args.weight_bound != int(args.weight_bound):
        raise QbnnError(f"--weight-bound must be a whole number with integer weights, got {args.weight_bound:g}")
    if args.split_init not in ("class", "one"):
        raise QbnnError(f"--split-init must be 'class' or 'one', not {args.split_init!r}")
    for name, v, low in (("--threads", args.threads, 1), ("--max-splits", args.max_splits, 0),
                         ("--kmeans-init", args.kmeans_init, 1), ("--iterations", args.iterations, 1),
                         ("--n-train", args.n_train, 2), ("--n-test", args.n_test, 1)):
        if v < low:
            raise QbnnError(f"{name} must be >= {low}, got {v}")
    if args.attack is not None and not all(math.isfinite(e) and e >= 0 for e in args.attack):
        raise QbnnError(f"--attack sizes must be finite and >= 0, got {args.attack}")
    return integer, _batch_size(args.batch_size)


def run(args: argparse.Namespace) -> dict:
    from qbnn.data import load_dataset
    from qbnn.task import code_labels, outputs_for_labels
    from qbnn.mip import MIPNetwork
    from qbnn.mip.robust import EPSILONS, robust_metrics

    integer, batch_size = _check(args)
    for flag, value in (("--write-model", args.write_model), ("--read-solution", args.read_solution)):
        if value is not None and args.method != "exact":
            raise QbnnError(f"{flag} needs --method exact (one MILP), not {args.method}")
    if args.write_model is not None:
        from qbnn.mip.builder import check_model_path

        check_model_path(args.write_model)
    if args.read_solution is not None:
        from qbnn.io import require_file

        require_file(args.read_solution, "solution file")
    val, attrs = None, None
    if args.data is not None:
        Xtr, ytr, Xte, yte, attrs = load_dataset(args.data, real=True)  # MIP training takes real features
        val = attrs.get("validation")
    else:
        from qbnn.mip.datasets import load

        # the planted network has the topology's widths (input width included)
        planted_layers = _layers(args.network, None, None)[0] if args.network and args.dataset == "planted" else None
        Xtr, ytr, Xte, yte = load(args.dataset, args.n_train, args.n_test, seed=args.seed, layers=planted_layers)
    Xtr, Xte = np.asarray(Xtr, float), np.asarray(Xte, float)
    ytr, yte = np.asarray(ytr).astype(int), np.asarray(yte).astype(int)
    n_out = outputs_for_labels(ytr, yte)
    ytr, yte = code_labels(ytr, n_out), code_labels(yte, n_out)
    layers, bias = _layers(args.network, Xtr.shape[1], n_out)
    net = MIPNetwork(layers, args.method, integer=integer, bias=bias, bias_bound=args.bias_bound,
                     weight_bound=args.weight_bound, reg_weight=args.reg_weight, time_limit=args.time_limit,
                     mip_gap=args.mip_gap, seed=args.seed, rho=args.robust, split_init=args.split_init,
                     max_splits=args.max_splits, kmeans_init=args.kmeans_init, batch_size=batch_size,
                     iterations=args.iterations, threads=args.threads, solve_limit=args.solve_limit,
                     write_model=args.write_model, read_solution=args.read_solution)
    Xval, yval = (np.asarray(val[0], float), code_labels(np.asarray(val[1]).astype(int), n_out)) if val is not None else (None, None)
    net.fit(Xtr, ytr, Xval, yval)
    info = net.info_
    summary = {"train_accuracy": net.score(Xtr, ytr), "test_accuracy": net.score(Xte, yte),
               "validation_accuracy": net.score(Xval, yval) if Xval is not None else None,
               "mip_gap": info.get("mip_gap"), "seconds": info["seconds"],
               "algorithm": args.method,
               "objective": info["objective"], "status": info.get("status"), "layers": layers,
               "weights": "integer" if integer else "continuous", "weight_bound": args.weight_bound,
               "bias_bound": args.bias_bound, "robust": args.robust, "n_train": int(len(ytr)),
               "out": str(args.out), **({"model": str(args.write_model)} if args.write_model else {}),
               **({"solution": str(args.read_solution)} if args.read_solution else {})}
    # a network that gives every test point the same class says so (time limits often end there)
    summary["constant_predictor"] = bool(len(np.unique(net.predict(Xte))) == 1) if len(yte) else None
    attack = args.attack if args.attack is not None else (EPSILONS if args.robust > 0 else None)
    if attack is not None:
        summary.update(robust_metrics(net.weights_, net.biases_, Xte, yte, attack, seed=args.seed))
    # identity: method as the report names it (mip_<variant>), completed by the rule's --identity
    from qbnn.identity import Identity, provenance
    from qbnn.run_metrics import RunMetrics

    net.identity = Identity(method=f"mip_{args.variant or args.method}", seed=int(args.seed),
                            dataset=args.dataset).updated(args.identity)
    net.info_["n_train"] = int(len(ytr))  # split histories report the training loss per sample
    net.save(args.out)
    if args.metrics:
        RunMetrics(summary, net.identity, provenance(attrs)).save(args.metrics)
    return {**summary, **net.identity.to_dict()}
