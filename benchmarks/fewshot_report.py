"""Tables and figure of the few-shot grid (``benchmarks/fewshot.py``): paired Δ test accuracy to plain
training per regime and variant (``qbnn.paired``), the per-variant summary (mean ± 95 % CI), the MILP
certificates and every heuristic's gap to the certified optimum.

    python benchmarks/fewshot_report.py [--runs benchmarks/out/fewshot_runs.csv]

Writes ``fewshot_paired.csv``, ``fewshot_paired_certified.csv``, ``fewshot_summary.csv``, ``fewshot_certificates.csv``,
``fewshot_paired.png`` and ``fewshot_tables.md`` next to the runs file; prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from qbnn.figures.accuracy import plot_paired
from qbnn.paired import paired_table
from qbnn.report import accuracy_stats

REFERENCES = ["plain", "ovo-exact"]


def certificates(df: pd.DataFrame) -> pd.DataFrame:
    """Per (regime, exact-* variant): how often HiGHS proved the optimum, the median gap of the MILP's
    own incumbent, and the heuristic's gap to the bound (= to the certified optimum where proven)."""
    ex = df[df["variant"].str.startswith("exact-")].copy()
    if ex.empty:
        return pd.DataFrame()
    ex["proven"] = ex["exact_proven"].astype(str).str.lower() == "true"
    ex["milp_gap"] = ex["exact_objective"] - ex["exact_bound"]
    g = ex.groupby(["regime", "variant"], sort=True)
    out = g.agg(n=("seed", "size"), proven=("proven", "sum"), milp_gap_median=("milp_gap", "median"),
                heuristic_gap_mean=("heuristic_gap", "mean"), heuristic_gap_max=("heuristic_gap", "max"))
    proven = ex[ex["proven"]].groupby(["regime", "variant"])
    out["heuristic_gap_proven_mean"] = proven["heuristic_gap"].mean()
    out["heuristic_at_optimum"] = proven["heuristic_gap"].apply(lambda s: int((s <= 1e-6).sum()))
    return out.reset_index()


def md_table(df: pd.DataFrame, cols: list[str], fmt: dict | None = None) -> str:
    fmt = fmt or {}
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in df.to_dict("records"):
        cells = []
        for c in cols:
            v = r[c]
            cells.append(fmt[c](v) if c in fmt and not (isinstance(v, float) and np.isnan(v)) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default=str(Path(__file__).resolve().parent / "out" / "fewshot_runs.csv"))
    args = ap.parse_args(argv)
    runs = Path(args.runs)
    df = pd.read_csv(runs)
    out = runs.parent
    paired = paired_table(df, REFERENCES)
    paired.to_csv(out / "fewshot_paired.csv", index=False)
    plot_paired(paired, out / "fewshot_paired.png")
    summ = accuracy_stats(df.groupby(["regime", "variant"], sort=True))
    summ.to_csv(out / "fewshot_summary.csv", index=False)
    cert = certificates(df)
    cert.to_csv(out / "fewshot_certificates.csv", index=False)
    # regulariser effect between certified optima: exact-<variant> vs exact (λ = 0) on the cert-* regimes
    cdf = df[df["regime"].str.startswith("cert") & df["variant"].str.startswith("exact")]
    certified = paired_table(cdf, "exact") if len(cdf) else pd.DataFrame()
    certified.to_csv(out / "fewshot_paired_certified.csv", index=False)
    pct = lambda v: f"{100 * v:+.1f}"  # noqa: E731
    p3 = lambda v: f"{v:.3g}"  # noqa: E731
    paired["Δ (points) ± 95 %"] = [f"{100 * m:+.1f} ± {100 * h:.1f}" for m, h in zip(paired["delta_mean"], paired["delta_ci95"])]
    paired["W/L/T"] = [f"{w}/{l}/{t}" for w, l, t in zip(paired["wins"], paired["losses"], paired["ties"])]
    summ["test"] = [f"{m:.3f} ± {h:.3f}" for m, h in zip(summ["test_accuracy_mean"], summ["test_accuracy_ci95"])]
    summ["train"] = [f"{m:.3f}" for m in summ["train_accuracy_mean"]]
    text = ["## Paired Δ test accuracy to the reference (plain / ovo-exact)", "",
            md_table(paired, ["regime", "variant", "n", "Δ (points) ± 95 %", "W/L/T", "p_wilcoxon", "p_sign", "p_holm",
                              "verdict"], {"p_wilcoxon": p3, "p_sign": p3, "p_holm": p3}), "",
            "## Per-variant test accuracy (mean ± 95 % CI)", "",
            md_table(summ.rename(columns={"test_accuracy_count": "n"}), ["regime", "variant", "n", "train", "test"]), ""]
    if not certified.empty:
        certified["Δ (points) ± 95 %"] = [f"{100 * m:+.1f} ± {100 * h:.1f}"
                                         for m, h in zip(certified["delta_mean"], certified["delta_ci95"])]
        certified["W/L/T"] = [f"{w}/{l}/{t}" for w, l, t in
                              zip(certified["wins"], certified["losses"], certified["ties"])]
        text += ["## Certified optima against each other (cert-* regimes, reference: exact λ = 0)", "",
                 md_table(certified, ["regime", "variant", "n", "Δ (points) ± 95 %", "W/L/T", "p_wilcoxon",
                                      "p_sign", "verdict"], {"p_wilcoxon": p3, "p_sign": p3}), ""]
    if not cert.empty:
        text += ["## MILP certificates and heuristic gaps", "",
                 md_table(cert, list(cert.columns), {c: p3 for c in cert.columns if c.endswith(("median", "mean", "max"))}), ""]
    (out / "fewshot_tables.md").write_text("\n".join(text))
    summary = {"runs": len(df), "regimes": int(df["regime"].nunique()), "seeds": int(df["seed"].nunique()),
               "helps": int((paired["verdict"] == "helps").sum()), "hurts": int((paired["verdict"] == "hurts").sum()),
               "no_effect": int((paired["verdict"] == "no detectable effect").sum()),
               "out": str(out / "fewshot_tables.md")}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
