"""``qbnn train-mip``: train a layered step-activation network by mixed-integer programming."""
from __future__ import annotations

import argparse

from qbnn import validate as V
from pathlib import Path

import numpy as np

from qbnn.errors import QbnnError

HELP = "train a layered network by mixed-integer programming (exact MILP, local search, data splitting)"
#: options naming files this command writes (checked before work, committed all or none)
OUTPUTS = ("out", "metrics")


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="dataset HDF5 with /train/X, /train/y, /test/X, /test/y")
    src.add_argument("--dataset", help="built-in dataset: breast_cancer | digits | planted")
    p.add_argument("--network", help="YAML with 'layers: [d, h..., C]' (first entry may be overridden by data width)")
    p.add_argument("--method", default="exact", help="exact | local | split (default exact)")
    p.add_argument("--robust", type=V.non_negative, default=0.0, metavar="RHO", help="l_inf radius of robust first layer")
    p.add_argument("--time-limit", type=V.positive, default=60.0, metavar="S")
    p.add_argument("--mip-gap", type=V.non_negative, default=1e-4, metavar="G")
    p.add_argument("--seed", type=V.seed, default=0)
    p.add_argument("--integer", action="store_true", help="weights in {-1, 0, 1}")
    p.add_argument("--split-init", default="class", help="split: start with one group per class (class) or one (one)")
    p.add_argument("--threads", type=V.count, default=1, help="HiGHS threads (default 1)")
    p.add_argument("--solve-limit", type=V.positive, default=None, metavar="S",
                   help="split: seconds per grouped solve (default half the remaining time)")
    p.add_argument("--n-train", type=V.count, default=40, help="training size for --dataset")
    p.add_argument("--n-test", type=V.count, default=200, help="test size for --dataset")
    p.add_argument("--out", required=True, help="output network HDF5")
    p.add_argument("--metrics", help="also write the summary JSON to this file")


def _load_data(path):
    """``(Xtr, ytr, Xte, yte)``: a qbnn dataset through its validator; any other HDF5 with plain
    /train and /test groups of finite numeric arrays (real-valued features are what MIP training takes)."""
    from qbnn.data import load_dataset
    from qbnn.io import open_h5
    from qbnn.validate import reading, text_attr

    with open_h5(path, "dataset file") as f:
        fmt = text_attr(f.attrs.get("format"))
    if fmt == "qbnn-data":
        return tuple(load_dataset(path)[:4])  # its errors stand: no silent second reading
    out = []
    with open_h5(path, "dataset file") as f, reading(path, "dataset file"):
        for k in ("train/X", "train/y", "test/X", "test/y"):
            if k not in f or not hasattr(f[k], "dtype"):
                raise QbnnError(f"dataset {path}: missing dataset /{k}")
            a = np.asarray(f[k][()])
            if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a) or not np.isfinite(a).all():
                raise QbnnError(f"dataset {path}: /{k} must hold finite real numbers")
            out.append(a)
    Xtr, ytr, Xte, yte = out
    for part, X, y in (("train", Xtr, ytr), ("test", Xte, yte)):
        if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
            raise QbnnError(f"dataset {path}: /{part}/X must be (samples, features) and /{part}/y (samples,)")
        if not np.array_equal(y, np.round(y)):
            raise QbnnError(f"dataset {path}: /{part}/y must hold integer class labels")
    if Xtr.shape[1] != Xte.shape[1] or len(Xtr) == 0:
        raise QbnnError(f"dataset {path}: train and test widths differ or the training set is empty")
    return Xtr, ytr, Xte, yte


def _layers(path, d, n_out):
    """-> (layers, bias) from a layered topology YAML (``layers: [...]``, optional ``bias``)."""
    if path is None:
        return [d, 3, n_out], True
    import yaml

    from qbnn.io import require_file

    p = require_file(path, "network file")
    try:
        spec = yaml.safe_load(Path(p).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise QbnnError(f"network file {p}: invalid YAML ({exc.__class__.__name__})") from None
    except UnicodeDecodeError:
        raise QbnnError(f"network file {p} is not UTF-8 text") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("layers"), list) or len(spec["layers"]) < 2:
        raise QbnnError(f"network file {p}: MIP training needs a layered topology 'layers: [d, h..., C]'")
    layers = spec["layers"]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in layers):
        raise QbnnError(f"network file {p}: 'layers' must be positive integers, got {layers!r}")
    layers = list(layers)
    layers[0] = d
    if layers[-1] != n_out:
        raise QbnnError(f"network file {p}: output width {layers[-1]} but the data needs {n_out}")
    bias = spec.get("bias", True)
    if not isinstance(bias, bool):
        raise QbnnError(f"network file {p}: 'bias' must be true or false for MIP training")
    return layers, bias


def run(args: argparse.Namespace) -> dict:
    from qbnn.mip import METHODS, MIPNetwork

    if args.method not in METHODS:
        raise QbnnError(f"unknown method {args.method!r} (choose from {', '.join(METHODS)})")
    if args.split_init not in ("class", "one"):
        raise QbnnError(f"--split-init must be 'class' or 'one', not {args.split_init!r}")
    if args.data is not None:
        Xtr, ytr, Xte, yte = _load_data(args.data)
    else:
        from qbnn.mip.datasets import load

        Xtr, ytr, Xte, yte = load(args.dataset, args.n_train, args.n_test, seed=args.seed)
    Xtr, Xte = np.asarray(Xtr, float), np.asarray(Xte, float)
    ytr, yte = np.asarray(ytr).astype(int), np.asarray(yte).astype(int)
    pm1 = set(np.unique(np.concatenate([ytr, yte]))) <= {-1, 1}
    if not pm1 and min(ytr.min(), yte.min() if len(yte) else 0) < 0:
        raise QbnnError("labels must be ±1 (two classes) or class indices 0..C-1")
    n_out = 1 if pm1 and ytr.min() < 0 else int(max(ytr.max(), yte.max() if len(yte) else 0) + 1)
    if n_out == 2:
        n_out = 1
        ytr, yte = np.where(ytr == 1, 1, -1), np.where(yte == 1, 1, -1)
    layers, bias = _layers(args.network, Xtr.shape[1], n_out)
    net = MIPNetwork(layers, args.method, integer=args.integer, bias=bias, time_limit=args.time_limit,
                     mip_gap=args.mip_gap, seed=args.seed, rho=args.robust, split_init=args.split_init,
                     threads=args.threads, solve_limit=args.solve_limit)
    net.fit(Xtr, ytr)
    net.save(args.out)
    info = net.info_
    summary = {"train_accuracy": net.score(Xtr, ytr), "test_accuracy": net.score(Xte, yte),
            "mip_gap": info.get("mip_gap"), "seconds": info["seconds"], "method": args.method,
            "objective": info["objective"], "status": info.get("status"), "layers": layers,
            "out": str(args.out)}
    if args.metrics:
        from qbnn.io import write_json

        write_json(args.metrics, summary)
    return summary
