"""``qbnn train``: data + topology -> trained, decoded, evaluated network (``docs/training.md``)."""
from __future__ import annotations

import argparse


HELP = "train a BNN by exact block / batch decompositions of its QUBO (no full-dataset QUBO held)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from qbnn.identity import add_identity_argument  # h5py, the library: loaded with the options (cli._CommandParser)
    from qbnn.training import DEFAULT_BLOCK_SIZE, DEFAULT_STRATEGY, STRATEGIES, SURROGATES, WARM_STARTS
    from qbnn.training.train import DEFAULT_KAPPA

    p.add_argument("--data", required=True, help="dataset HDF5 (/train/X, /train/y, /test/X, /test/y)")
    p.add_argument("--network", required=True, help="topology YAML")
    p.add_argument("--out", required=True, help="trained network HDF5 (read by qbnn evaluate / export-network)")
    p.add_argument("--strategy", default=DEFAULT_STRATEGY, choices=STRATEGIES,
                   help=f"decomposition strategy (default {DEFAULT_STRATEGY})")
    p.add_argument("--time-limit", type=float, metavar="SECONDS", help="wall-clock budget")
    p.add_argument("--steps", type=int, help="step budget (block solves / PT steps); alone: deterministic")
    p.add_argument("--warm-start", default="none", choices=WARM_STARTS, help="initial weights (default none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-spins", type=int, help="consensus: largest batch QUBO (variables) the Ising machine holds")
    p.add_argument("--block-size", type=int, default=DEFAULT_BLOCK_SIZE,
                   help=f"weights per exhaustive block (1..16, default {DEFAULT_BLOCK_SIZE})")
    p.add_argument("--surrogate", default="hinge", choices=SURROGATES,
                   help="what lns / lns-pt / consensus blocks minimise: hinge max(0, kappa - t*z) on the output "
                        "pre-activations (default) or none (the documented 0/1 loss); the reported loss is documented")
    p.add_argument("--kappa", metavar="K|rule|cv", default=DEFAULT_KAPPA,
                   help="hinge margin: a number >= 0, rule (round(sqrt(output fan-in) - 1)) or cv (chosen among the "
                        "rule's value x 1, 1.5, 2 by 3-fold cross-validation in the first 40 %% of the budget); "
                        f"default {DEFAULT_KAPPA or 'rule'}")
    p.add_argument("--no-margin-phase", dest="margin_phase", action="store_false",
                   help="lns / lns-pt under the hinge: stop at the surrogate's floor instead of raising kappa for the "
                        "rest of the budget (the margin phase keeps the lowest documented loss)")
    p.add_argument("--validation", type=float, default=0.0, metavar="FRACTION",
                   help="hold out this seeded stratified share of the training set and return the search's "
                        "incumbent with the best validation accuracy (default 0: off; must be < 1)")
    p.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"), help="PT endgame device")
    p.add_argument("--metrics", help="also write the summary JSON to this file")
    add_identity_argument(p)


def run(args: argparse.Namespace) -> dict:
    from qbnn.errors import QbnnError
    from qbnn.identity import Identity, provenance
    from qbnn.run_metrics import RunMetrics
    from qbnn.task import load_task
    from qbnn.topology import Network
    from qbnn.training import train

    if args.time_limit is None and args.steps is None:
        raise QbnnError("give --time-limit SECONDS and/or --steps N")
    if args.time_limit is not None and not args.time_limit > 0:
        raise QbnnError(f"--time-limit must be positive, got {args.time_limit}")
    if args.steps is not None and args.steps < 1:
        raise QbnnError(f"--steps must be >= 1, got {args.steps}")
    if not 1 <= args.block_size <= 16:
        raise QbnnError(f"--block-size must lie in 1..16, got {args.block_size}")
    from qbnn.training.train import check_kappa

    try:
        args.kappa = check_kappa(args.kappa)
    except QbnnError:
        raise QbnnError(f"--kappa must be a finite number >= 0, rule or cv, got {args.kappa!r}") from None
    if args.max_spins is not None and args.max_spins < 1:
        raise QbnnError(f"--max-spins must be >= 1, got {args.max_spins}")
    from qbnn.training.validation import check_fraction

    check_fraction(args.validation)
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise QbnnError("--device cuda: torch sees no CUDA device")
    topo, Xtr, ytr, Xte, yte, data = load_task(args.data, args.network)
    res = train(topo, Xtr, ytr, strategy=args.strategy, warm_start=args.warm_start, time_limit=args.time_limit,
                steps=args.steps, seed=args.seed, device=args.device, max_spins=args.max_spins,
                block_size=args.block_size, surrogate=args.surrogate, kappa=args.kappa,
                margin_phase=args.margin_phase, validation=args.validation)
    summary = res.summary(topo)
    summary["train_accuracy"] = topo.accuracy(res.weights, Xtr, ytr)
    summary["test_accuracy"] = topo.accuracy(res.weights, Xte, yte) if len(yte) else None
    summary["peak_memory_mb"] = summary.pop("peak_rss_mb")
    identity = Identity(method=f"train_{args.strategy}", seed=int(args.seed)).updated(args.identity)
    Network(topo, res.weights, {"method": "train", "solver": f"train-{args.strategy}", "seed": int(args.seed),
                                "warm_start": args.warm_start}, identity).save(args.out)
    summary.update(data=str(args.data), network=str(args.network), out=str(args.out), **identity.to_dict())
    if args.metrics:
        values = {k: v for k, v in summary.items() if k not in Identity.names()}
        RunMetrics(values, identity, provenance(data.attrs)).save(args.metrics)
    return summary
