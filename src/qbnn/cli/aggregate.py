"""``qbnn aggregate``: many metrics JSON files -> one CSV table, a per-variant summary (+ figures)."""
from __future__ import annotations

import argparse

HELP = "aggregate per-run metrics JSON files into one CSV table, a mean ± 95% CI summary and accuracy figures"
#: options naming files this command writes (checked before work, committed all or none)
OUTPUTS = ("out", "summary", "figure", "margin_figure")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("metrics", nargs="+", help="metrics JSON files, each carrying its run identity "
                                              "(qbnn evaluate / baseline / train / train-mip --identity)")
    p.add_argument("--out", required=True, help="output CSV (one row per run)")
    p.add_argument("--summary", help="output CSV: train/test accuracy mean ± 95%% CI per (dataset, topology, "
                                     "variant, solver, λ); variants: QUBO plain/+margin/+dropout/+both and baselines")
    p.add_argument("--figure", help="output PNG: train/test accuracy per variant with 95%% CI (generalisation gap)")
    p.add_argument("--margin-figure", help="output PNG: test accuracy vs margin weight per QUBO solver")
    p.add_argument("--paired", help="output CSV: paired Δ test accuracy of every variant to plain QUBO training "
                                    "(same seeds), 95%% interval, Wilcoxon / sign-test p (qbnn.paired)")
    p.add_argument("--paired-figure", help="output PNG: paired Δ test accuracy ± 95%% interval (needs --paired)")


def run(args: argparse.Namespace) -> dict:
    import pandas as pd

    from qbnn.figures.accuracy import plot_accuracy, plot_margin, plot_paired
    from qbnn.report import load_metrics, paired_variants, summarise_variants, write_table

    df = load_metrics(args.metrics)
    summary = summarise_variants(df)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summary[["dataset", "topology", "variant", "solver", "margin", "n", "test_accuracy_mean",
                       "test_accuracy_ci95", "train_accuracy_mean", "constant_runs"]].to_string(index=False))
    if args.figure:
        plot_accuracy(summary, args.figure, runs=df)
    if args.margin_figure:
        plot_margin(df, args.margin_figure)
    if args.summary:
        write_table(summary, args.summary)
    if args.paired:
        paired = paired_variants(df)
        write_table(paired, args.paired)
        if args.paired_figure:
            plot_paired(paired, args.paired_figure, group="group")
    write_table(df, args.out)
    return {
        "runs": int(len(df)),
        "methods": sorted(df["method"].astype(str).unique()),
        "variants": sorted(summary["variant"].unique()),
        "out": args.out,
        "summary": args.summary,
        "figure": args.figure,
        "best_test_accuracy": float(summary["test_accuracy_mean"].max()),
        "constant_predictor_runs": int(summary["constant_runs"].sum()),
    }
