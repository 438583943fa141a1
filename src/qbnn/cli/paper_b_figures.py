"""``qbnn paper-b-figures``: paper B's accuracy table and figures from the aggregated metrics."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "paper B's tables and figures: accuracy per dataset x method (BDNN vs DNN), sizes, attacks, splits"

OUTPUTS = ("accuracy.csv", "accuracy.md", "accuracy.png", "sizes.png", "sizes.csv", "robust.png", "robust.csv",
           "splits.png", "splits.csv")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metrics", required=True, help="metrics table from qbnn aggregate (metrics.csv)")
    p.add_argument("--networks", nargs="*", default=[], help="MIP split network files (per-split histories)")
    p.add_argument("--size-series", nargs="*", default=[], metavar="DATASET",
                   help="datasets that differ only in training size (runtime/accuracy vs samples)")
    p.add_argument("--out-dir", required=True, help=f"directory for {', '.join(OUTPUTS)}")


def run(args: argparse.Namespace) -> dict:
    from qbnn.errors import QbnnError
    from qbnn.figures import paper_b as fb
    from qbnn.report import write_table
    from qbnn.run_metrics import load_metrics_table

    df = load_metrics_table(args.metrics)
    out = Path(args.out_dir)
    if out.exists() and not out.is_dir():
        raise QbnnError(f"--out-dir {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    table = fb.accuracy_table(df)
    write_table(table, out / "accuracy.csv")
    (out / "accuracy.md").write_text(fb.table_markdown(table))
    fb.plot_accuracy(table, out / "accuracy.png")
    made = ["accuracy.csv", "accuracy.md", "accuracy.png"]
    if args.size_series:
        write_table(fb.plot_sizes(df, args.size_series, out / "sizes.png"), out / "sizes.csv")
        made += ["sizes.png", "sizes.csv"]
    if fb.attack_columns(df) and df.loc[df["method"].map(fb.is_bdnn), list(fb.attack_columns(df).values())].notna().any().any():
        write_table(fb.plot_robust(df, out / "robust.png"), out / "robust.csv")
        made += ["robust.png", "robust.csv"]
    if args.networks:
        hist = fb.split_histories(args.networks)
        fb.plot_splits(hist, out / "splits.png")
        write_table(hist, out / "splits.csv")
        made += ["splits.png", "splits.csv"]
    cmp_rows = table[table["method"] == "best BDNN - DNN"]
    return {"out_dir": str(out), "written": made,
            "comparison": {f"{r['dataset']}/{r['topology']}": r["verdict"] for r in cmp_rows.to_dict("records")}}
