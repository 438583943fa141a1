"""``qbnn aggregate``: many metrics JSON files -> one CSV table (+ comparison figure)."""
from __future__ import annotations

import argparse

HELP = "aggregate per-run metrics JSON files into one CSV table and an accuracy figure"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("metrics", nargs="+", help="metrics JSON files (results/<stage>/<dataset>/<topology>/<run>.json)")
    p.add_argument("--out", required=True, help="output CSV (one row per run)")
    p.add_argument("--figure", help="output PNG: train/test accuracy per method with 95%% CI")
    p.add_argument("--margin-figure", help="output PNG: test accuracy vs margin weight per QUBO solver")


def run(args: argparse.Namespace) -> dict:
    from qbnn.report import load_metrics, plot_accuracy, plot_margin, summarise, write_table

    df = load_metrics(args.metrics)
    summary = summarise(df)
    print(summary.to_string(index=False))
    if args.figure:
        plot_accuracy(summary, args.figure)
    if args.margin_figure:
        plot_margin(df, args.margin_figure)
    write_table(df, args.out)
    return {
        "runs": int(len(df)),
        "methods": sorted(df["method"].astype(str).unique()),
        "out": args.out,
        "figure": args.figure,
        "best_test_accuracy": float(summary["test_accuracy_mean"].max()),
    }
