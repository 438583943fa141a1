"""``qbnn binarise``: build a ±1 dataset file (HDF5) from a source and settings."""
from __future__ import annotations

import argparse
from pathlib import Path


from qbnn import validate as V
from qbnn.errors import QbnnError

HELP = "binarise a dataset (digits, bars_and_stripes, idx, npz, csv) into a ±1 HDF5 file"
#: options naming files this command writes (checked before work, committed all or none)
OUTPUTS = ("out", "grid")

# CLI option -> settings key (given options override the --config settings).
_OPTIONS = {
    "source": "source",
    "classes": "classes",
    "downsample": "downsample",
    "threshold": "threshold",
    "train_size": "train_size",
    "test_size": "test_size",
    "seed": "seed",
    "balance": "balance",
    "size": "size",
    "noise": "noise",
    "n_samples": "n_samples",
    "path": "path",
    "images": "images",
    "labels": "labels",
    "label_column": "label_column",
    "x_key": "x_key",
    "y_key": "y_key",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML file with a 'datasets:' mapping name -> settings")
    p.add_argument("--dataset", help="which entry of the config's 'datasets' to build")
    p.add_argument("--out", required=True, help="output HDF5 file")
    p.add_argument("--grid", metavar="PNG", help="also write a grid of binarised training samples per class")
    p.add_argument("--per-class", type=V.count, default=8, help="samples per class in --grid (default 8)")
    g = p.add_argument_group("settings (without --config, or overriding it)")
    g.add_argument("--source", help="digits | bars_and_stripes | idx | npz | csv")
    g.add_argument("--classes", nargs="+", help="classes to keep, in order (two: first -> -1, second -> +1)")
    g.add_argument("--downsample", type=V.count, help="target image side (digits: 4 = 2x2 pooling, 6 = crop border)")
    g.add_argument("--threshold", help="mean | otsu | a number (fixed threshold)")
    g.add_argument("--train-size", type=V.count, help="number of training samples")
    g.add_argument("--test-size", type=V.non_negative_int, help="number of test samples")
    g.add_argument("--seed", type=V.seed, help="split / balancing / noise seed (default 0)")
    g.add_argument("--balance", action="store_true", default=None, help="subsample to equal class counts")
    g.add_argument("--size", type=V.count, help="bars_and_stripes: image side n")
    g.add_argument("--noise", type=V.probability, help="bars_and_stripes: pixel flip probability")
    g.add_argument("--n-samples", type=V.count, help="bars_and_stripes: samples drawn with replacement")
    g.add_argument("--path", help="npz / csv: input file")
    g.add_argument("--images", help="idx: *-images-idx3-ubyte[.gz] file")
    g.add_argument("--labels", help="idx: *-labels-idx1-ubyte[.gz] file")
    g.add_argument("--label-column", help="csv: label column name or integer index")
    g.add_argument("--x-key", help="npz: features array name (default X)")
    g.add_argument("--y-key", help="npz: labels array name (default y)")


def _number(s: str):
    try:
        return int(s)
    except ValueError:
        try:
            return float(s)
        except ValueError:
            return s


def load_settings(config: str | None, dataset: str | None) -> dict:
    import yaml

    from qbnn.io import require_file

    """The settings mapping of ``dataset`` in the YAML file ``config``."""
    if config is None:
        if dataset is not None:
            raise QbnnError("--dataset needs --config")
        return {}
    p = require_file(config, "config file")
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise QbnnError(f"config file {p}: invalid YAML ({str(exc).splitlines()[0]})") from None
    except UnicodeDecodeError:
        raise QbnnError(f"config file {p} is not UTF-8 text") from None
    if not isinstance(doc, dict):
        raise QbnnError(f"config file {p}: expected a mapping")
    if "datasets" not in doc:
        if "source" in doc and dataset is None:
            return dict(doc)
        raise QbnnError(f"config file {p}: no 'datasets' mapping")
    ds = doc["datasets"]
    if not isinstance(ds, dict) or not ds:
        raise QbnnError(f"config file {p}: 'datasets' must be a non-empty mapping")
    if dataset is None:
        if len(ds) != 1:
            raise QbnnError(f"config file {p}: several datasets ({', '.join(map(str, ds))}); choose one with --dataset")
        dataset = next(iter(ds))
    if dataset not in ds:
        raise QbnnError(f"unknown dataset {dataset!r} in {p} (available: {', '.join(map(str, ds))})")
    settings = ds[dataset]
    if not isinstance(settings, dict):
        raise QbnnError(f"config file {p}: settings of dataset {dataset!r} must be a mapping")
    return dict(settings)


def run(args: argparse.Namespace) -> dict:
    from qbnn.data import Dataset, binarise
    from qbnn.identity import Identity, provenance
    from qbnn.errors import QbnnError

    settings = load_settings(args.config, args.dataset)
    for opt, key in _OPTIONS.items():
        v = getattr(args, opt, None)
        if v is None:
            continue
        if opt == "classes":
            v = [_number(c) for c in v]
        elif opt in ("threshold", "label_column"):
            v = _number(v)
        settings[key] = v
    if "source" not in settings:
        raise QbnnError("no source: give --config with --dataset, or --source")
    if args.per_class < 1:
        raise QbnnError(f"--per-class must be >= 1, got {args.per_class}")
    record = Dataset.from_binarised(binarise(settings))
    if args.dataset is not None:  # the dataset record names itself (qbnn.identity): figures match networks by it
        record.identity, record.provenance = Identity(dataset=args.dataset), provenance()
    record.save(args.out)
    if args.grid:
        from qbnn.figures.samples import plot_sample_grid

        plot_sample_grid(args.out, args.grid, per_class=args.per_class)
    a = record.attrs
    return {
        "dataset": args.dataset,
        "source": a["source"],
        "n_train": int(len(record.X_train)),
        "n_test": int(len(record.X_test)),
        "d": record.n_features,
        "classes": record.classes,
        "threshold": a.get("threshold"),  # binary encoding only
        "threshold_method": a.get("threshold_method"),
        "encoding": record.encoding,
        "config_hash": a["config_hash"],
        "out": str(Path(args.out)),
        "grid": args.grid,
    }
