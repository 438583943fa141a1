"""``qbnn figures``: the paper figures that need more than the metrics table (``qbnn.figures.runs``)."""
from __future__ import annotations

import argparse

from qbnn.errors import QbnnError

HELP = "draw energy traces, first-layer weight images, margin histograms and dropout-rounds accuracy"
#: options naming files this command writes (checked before work, committed all or none)
OUTPUTS = ("energy_out", "weights_out", "margins_out", "margins_table", "rounds_out", "rounds_table")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--solutions", nargs="*", default=[], help="solution HDF5 files (results/solve/...)")
    p.add_argument("--energy-out", help="output PNG: best energy vs wall time per solver")
    p.add_argument("--networks", nargs="*", default=[], help="network HDF5 files (results/networks/...)")
    p.add_argument("--data", nargs="*", default=[], help="dataset HDF5 files, matched to networks by the dataset name "
                                                        "in both records (qbnn binarise --dataset NAME)")
    p.add_argument("--weights-out", help="output PNG: first-layer weights of --networks as images")
    p.add_argument("--margins-out", help="output PNG: |z|/fan-in histograms of --networks per λ")
    p.add_argument("--margins-table", help="output CSV: the histogram counts behind --margins-out")
    p.add_argument("--rounds", nargs="*", default=[], help="evaluate JSONs of the per-round full QUBOs (their identity "
                                                         "names dropout_exp and dropout_round)")
    p.add_argument("--metrics", help="metrics CSV of `qbnn aggregate` (plain and final dropout runs)")
    p.add_argument("--dropout-rounds", nargs="*", default=[], metavar="EXP=R", help="rounds R of each dropout experiment")
    p.add_argument("--rounds-out", help="output PNG: accuracy vs dropout rounds")
    p.add_argument("--rounds-table", help="output CSV: per-run accuracies behind --rounds-out")


def _rounds_by_exp(items: list[str]) -> dict[str, int]:
    out = {}
    for item in items:
        exp, sep, r = item.partition("=")
        if not sep or not exp or not r.isdigit() or int(r) < 1:
            raise QbnnError(f"--dropout-rounds must look like EXP=R with R >= 1, got {item!r}")
        out[exp] = int(r)
    return out


def run(args: argparse.Namespace) -> dict:
    from qbnn.errors import QbnnError
    from qbnn.data import Dataset
    from qbnn.figures import runs as figures
    from qbnn.report import write_table
    from qbnn.run_metrics import load_metrics_table

    wanted = [args.energy_out, args.weights_out, args.margins_out, args.rounds_out]
    if not any(wanted):
        raise QbnnError("nothing to draw: give at least one of --energy-out, --weights-out, --margins-out, --rounds-out")
    summary: dict = {}
    if args.energy_out:
        traces = figures.plot_energy_traces(args.solutions, args.energy_out)
        summary["energy"] = {"out": args.energy_out, "traces": len(traces),
                             "solvers": sorted({t["solver"] for t in traces})}
    if args.weights_out or args.margins_out:
        loaded = {}
        for p in args.data:
            d = Dataset.load(p)
            name = d.identity.dataset
            if name is None and len(args.data) > 1:
                raise QbnnError(f"dataset file {p} does not name its dataset "
                                "(rebuild it with qbnn binarise --dataset NAME)")
            loaded[name or ""] = d
        if args.weights_out:
            rows = figures.plot_weight_images(args.networks, args.weights_out, {k: v.attrs for k, v in loaded.items()})
            summary["weights"] = {"out": args.weights_out, "networks": len(rows),
                                  "neurons": int(sum(len(r["names"]) for r in rows))}
        if args.margins_out:
            if args.networks and not loaded:
                raise QbnnError("--margins-out needs --data (the networks' training data)")
            table = figures.plot_margin_histograms(args.networks, args.margins_out, {k: v.X_train for k, v in loaded.items()})
            if args.margins_table:
                write_table(table, args.margins_table)
            summary["margins"] = {"out": args.margins_out, "networks": len(args.networks),
                                  "margins": sorted(table["margin"].unique().tolist()) if len(table) else []}
    if args.rounds_out:
        if not args.metrics:
            raise QbnnError("--rounds-out needs --metrics (the aggregate table: plain and final dropout runs)")
        metrics = load_metrics_table(args.metrics)
        table = figures.dropout_rounds_table(args.rounds, metrics, _rounds_by_exp(args.dropout_rounds))
        stats = figures.plot_dropout_rounds(table, args.rounds_out)
        if args.rounds_table:
            write_table(table, args.rounds_table)
        summary["rounds"] = {"out": args.rounds_out, "runs": int(len(table)),
                             "experiments": sorted(table["exp"].unique().tolist()) if len(table) else []}
        if len(stats):
            summary["rounds"]["test_accuracy_by_rounds"] = {
                f"{r.exp} λ={r.margin:g} r={r.rounds}": round(float(r.test_accuracy_mean), 4) for r in stats.itertuples()}
    return summary
